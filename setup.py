"""Builds the compiled S3 line encoder in place (`make venv` runs `python setup.py build_ext --inplace`).

The package runs without it: `schema` then uses the pure-Python `s3_usual_parts`, which writes the same bytes.
Packaging (`pip install .`) is pyproject.toml's: the extension belongs to `include/`, which is not packaged, so it
is built only when `build_ext` is asked for.
"""

import sys

from setuptools import Extension, setup

if "build_ext" in sys.argv:
    from Cython.Build import cythonize

    setup(
        ext_modules=cythonize(
            [Extension("include.lyve_audit._s3_line", ["include/lyve_audit/_s3_line.pyx"], extra_compile_args=["-O3"])],
            quiet=True,
        ),
    )
else:
    setup()
