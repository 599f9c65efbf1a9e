"""setuptools entry point; packaging (`pip install .`) is pyproject.toml's, and no extension is built: the package
is pure Python."""

from setuptools import setup

setup()
