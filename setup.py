"""Map the `src/` folder to the import name `mmp` for every install path.

`[tool.setuptools] package-dir` renames the root; the package list must be computed so that each
subpackage of `src/` is shipped as `mmp.<sub>` in wheels and editable installs alike.
"""

from setuptools import find_packages, setup

setup(packages=["mmp", *(f"mmp.{name}" for name in find_packages("src"))])
