"""`mmp init` as a function: names + task -> a rendered project tree written to disk."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmp.core.errors import MmpError
from mmp.core.tasks import TASKS
from mmp.scaffold.examples import EXAMPLES, TaskExample, per_task_templates, sample_record
from mmp.scaffold.names import ProjectNames, project_names
from mmp.scaffold.render import TEMPLATE_ROOT, RenderedFile, render_tree
from mmp.scaffold.wheel import ship_mmp_wheel

PYTHON_VERSION = "3.11"
# The uv the generated Dockerfile installs from the package index (ARG UV_VERSION overrides it);
# the image build test installs exactly this version.
UV_VERSION = "0.13.9"
# The PostgreSQL driver of the compose stack's tracking server image (docker/mlflow/Dockerfile).
PSYCOPG_VERSION = "3.3.9"
# The tracking server runs the MLflow that mmp itself was installed with, so client and server
# agree; this is only used when that version cannot be read.
FALLBACK_MLFLOW_VERSION = "3.17.2"
DEFAULT_TRACKING_URI = "sqlite:///mlruns.db"
# The weekly `mmp retrain` schedules; left out of clustering projects (no labels: nothing to judge).
RETRAIN_TEMPLATES = (
    ".github/workflows/retrain.yml.jinja",
    "deploy/kubernetes/retrain-cronjob.yaml.jinja",
    "flows/retrain.py.jinja",
)


@dataclass(frozen=True)
class CreatedProject:
    """What `mmp init` wrote."""

    path: Path
    names: ProjectNames
    example: TaskExample
    files: list[str]
    # mmp's wheel in wheels/ (relative to `path`) when mmp-toolkit did not come from a package index
    wheel: str | None = None
    wheel_built: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "name": self.names.name,
            "package": self.names.package,
            "task": self.example.task,
            "recipe": self.example.recipe_path,
            "files": self.files,
            "wheel": self.wheel,
        }


def mmp_requirement(version: str, extras: tuple[str, ...] = ("serving",)) -> str:
    """`mmp-toolkit[serving]>=X.Y.Z,<next>`: the running mmp's release and its compatible range.

    0.x releases may break on a minor bump, so `0.1.0` gives `>=0.1.0,<0.2`; `1.4.2` gives
    `>=1.4.2,<2`. A checkout with no version (0.0.0+unknown) gives no bound at all.
    """
    name = f"mmp-toolkit[{','.join(extras)}]" if extras else "mmp-toolkit"
    match = re.match(r"^(\d+)\.(\d+)(?:\.(\d+))?", version)
    if not match or version.startswith("0.0.0"):
        return name
    major, minor, patch = int(match[1]), int(match[2]), int(match[3] or 0)
    upper = f"0.{minor + 1}" if major == 0 else f"{major + 1}"
    return f"{name}>={major}.{minor}.{patch},<{upper}"


def project_context(names: ProjectNames, example: TaskExample, mmp_version: str) -> dict[str, Any]:
    """Every variable the project templates use (StrictUndefined fails on anything missing)."""
    record = sample_record(TEMPLATE_ROOT / example.data_path, example.target)
    return {
        "project": names,
        "task": example.task,
        "example": example,
        "sample_json": json.dumps(record),
        "mmp_version": mmp_version,
        "mmp_requirement": mmp_requirement(mmp_version),
        "python_version": PYTHON_VERSION,
        "uv_version": UV_VERSION,
        "mlflow_version": _installed_version("mlflow", FALLBACK_MLFLOW_VERSION),
        "psycopg_version": PSYCOPG_VERSION,
        "image": names.distribution,
        "registered_model": names.package,
        "experiment": names.distribution,
        "tracking_uri": DEFAULT_TRACKING_URI,
        "registered_model_name": None,
    }


def _installed_version(distribution: str, fallback: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return fallback


def render_project(names: ProjectNames, task: str, mmp_version: str) -> list[RenderedFile]:
    """Render every file of a new project in memory."""
    if task not in EXAMPLES:
        raise MmpError(f"unknown task '{task}'", f"choose one of {', '.join(TASKS)}")
    example = EXAMPLES[task]
    context = project_context(names, example, mmp_version)
    skip = per_task_templates() | (set() if example.target else set(RETRAIN_TEMPLATES))
    return render_tree(context, rename=example.files(), skip=skip)


def create_project(
    name: str,
    task: str,
    directory: Path,
    force: bool = False,
    on_wheel_build: Callable[[Path], None] | None = None,
) -> CreatedProject:
    """Validate the name, render everything, put mmp's wheel in wheels/, then write the files under
    `directory/name`.

    An existing non-empty folder is refused unless `force`: then the generated files replace their
    namesakes and every other file in the folder is kept. When mmp did not come from a package
    index its wheel goes into wheels/ (`mmp.scaffold.wheel`), so `uv sync` works as the README says.
    """
    from mmp import __version__

    names = project_names(name)
    target = directory / names.name
    if target.exists() and not target.is_dir():
        raise MmpError(f"{target} exists and is not a folder", "choose another name or --directory")
    if target.is_dir() and any(target.iterdir()) and not force:
        raise MmpError(
            f"{target} already exists and is not empty",
            "choose another name, or pass --force to overwrite the generated files (others are kept)",
        )
    files = render_project(names, task, __version__)
    shipped = ship_mmp_wheel(target / "wheels", on_build=on_wheel_build)
    for file in files:
        path = target / file.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(file.content)
    written = [f.path for f in files]
    wheel = shipped.wheel.relative_to(target).as_posix() if shipped.wheel else None
    return CreatedProject(
        path=target,
        names=names,
        example=EXAMPLES[task],
        files=sorted([*written, wheel] if wheel else written),
        wheel=wheel,
        wheel_built=shipped.built,
    )
