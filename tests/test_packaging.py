"""The built wheel, not only the editable checkout, ships every module and template.

A subpackage missing from the wheel is invisible to an editable install, so build the wheel, compare
its file list with the source tree, install it into a fresh virtual environment and run the CLI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    uv = shutil.which("uv")
    if uv is None:
        pytest.fail("uv is not on PATH: the test suite runs through `uv run` (see README)")
    done = subprocess.run(
        [uv, "build", "--wheel", "--out-dir", str(out), str(REPO)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (built,) = out.glob("mmp_toolkit-*.whl")
    return built


def _shipped_sources() -> set[str]:
    src = REPO / "src"
    files = set()
    for path in src.rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            relative = path.relative_to(src).as_posix()
            if relative.endswith(".py") or relative.startswith("cli/templates/") or relative == "py.typed":
                files.add(f"mmp/{relative}")
    return files


@pytest.mark.slow
def test_wheel_contains_every_module_and_template(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = sorted(_shipped_sources() - names)
    assert not missing, f"not in the wheel: {missing[:20]}"
    assert not any(n.startswith(("src/", "tests/")) for n in names)


@pytest.mark.slow
def test_installed_wheel_runs_the_cli(wheel: Path, tmp_path: Path) -> None:
    """Install the wheel alone into a new venv; dependencies come from this environment's site-packages."""
    import sysconfig

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    target = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(target)
    deps = sysconfig.get_paths()["purelib"]  # this environment: typer, mlflow... (not mmp itself)
    env = {**os.environ, "PYTHONPATH": deps}
    env.pop("MLFLOW_TRACKING_URI", None)
    check = subprocess.run(
        [str(python), "-c", "import mmp, mmp.cli.main as m; print(mmp.__file__)"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip().startswith(target), "mmp was imported from the checkout, not the wheel"
    done = subprocess.run(
        [
            str(python),
            "-m",
            "mmp.cli.main",
            "validate",
            "-r",
            str(REPO / "recipes" / "diabetes.yaml"),
            "-d",
            str(REPO / "data" / "diabetes.csv"),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
