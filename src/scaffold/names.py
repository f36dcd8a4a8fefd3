"""Turn what a user typed after `mmp init` into safe names: a folder, a distribution and a package.

A project name becomes a directory, the `[project] name` of its pyproject.toml and the import name
of its `src/<package>`; each has its own rules, and a name that would escape the target folder or
shadow a library the project imports is refused with the fix, never silently mangled into
something unexpected.
"""

from __future__ import annotations

import keyword
import re
import sys
from dataclasses import dataclass

from mmp.core.errors import MmpError

_ALLOWED = re.compile(r"^[A-Za-z][A-Za-z0-9._-]*$")
_SEPARATORS = re.compile(r"[-_.]+")
MAX_LENGTH = 64

# Import names a project package must not take: it would shadow the library inside the project's
# own environment (`import mlflow` would find the project instead).
RESERVED = frozenset(
    {
        "mmp",
        "mlflow",
        "sklearn",
        "scikit_learn",
        "pandas",
        "numpy",
        "scipy",
        "pyarrow",
        "sqlalchemy",
        "pydantic",
        "typer",
        "yaml",
        "jinja2",
        "fastapi",
        "uvicorn",
        "httpx",
        "lightgbm",
        "xgboost",
        "optuna",
        "pyspark",
        "psycopg",
        "pytest",
        "tests",
        "test",
        "src",
    }
)


@dataclass(frozen=True)
class ProjectNames:
    """The names one project goes by."""

    name: str  # as typed, used for the folder and titles: "sales-forecast"
    distribution: str  # PEP 503-normalised pyproject name: "sales-forecast"
    package: str  # importable module under src/: "sales_forecast"


def project_names(raw: str) -> ProjectNames:
    """Validate a project name and derive its distribution and package names."""
    name = raw.strip()
    if not name:
        raise MmpError("the project name is empty", "e.g. mmp init sales-forecast")
    if "/" in name or "\\" in name or name in {".", ".."} or ".." in name:
        raise MmpError(
            f"'{raw}' is not a project name: it contains a path",
            "give a plain name (mmp init sales-forecast) and choose the parent folder with --directory",
        )
    if len(name) > MAX_LENGTH:
        raise MmpError(f"the project name is longer than {MAX_LENGTH} characters", "choose a shorter name")
    if not _ALLOWED.match(name) or name[-1] in "._-":
        raise MmpError(
            f"'{raw}' is not a valid project name",
            "start with a letter, end with a letter or digit, and use only letters, digits, '-', '_' "
            "and '.' (e.g. sales-forecast)",
        )
    distribution = _SEPARATORS.sub("-", name).lower()
    package = _SEPARATORS.sub("_", name).lower()
    if keyword.iskeyword(package) or not package.isidentifier():
        raise MmpError(f"'{raw}' gives the package name '{package}', a Python keyword", "choose another name")
    if package in RESERVED or package in sys.stdlib_module_names:
        raise MmpError(
            f"'{raw}' gives the package name '{package}', which would shadow the module of the same "
            "name inside the project",
            f"choose a more specific name, e.g. {package}-project or my-{package}",
        )
    return ProjectNames(name=name, distribution=distribution, package=package)
