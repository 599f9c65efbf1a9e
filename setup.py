"""Builds the compiled S3 line encoder in place (`make venv` runs `python setup.py build_ext --inplace`).

The package runs without it: `schema` then uses the pure-Python `s3_usual_parts`, which writes the same bytes.
"""

from Cython.Build import cythonize
from setuptools import Extension, setup

setup(
    packages=[],
    py_modules=[],
    ext_modules=cythonize(
        [Extension("include.lyve_audit._s3_line", ["include/lyve_audit/_s3_line.pyx"], extra_compile_args=["-O3"])],
        quiet=True,
    ),
)
