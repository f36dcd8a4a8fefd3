"""A generated project's README works as written, in a clean environment where mmp is not installed.

`mmp init` from this checkout puts mmp's wheel in wheels/; then the README's Quickstart commands
run verbatim in the project (`uv sync` makes a fresh .venv: mmp-toolkit can only come from
wheels/, it is on no package index), `serve-api` in the background, and the curl block against it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest

from mmp.scaffold.project import create_project
from tests.ports import free_port
from tests.shell_blocks import bash_blocks

pytestmark = pytest.mark.slow


def _clean_env() -> dict[str, str]:
    """No trace of this checkout's environment: no venv, no mmp/MLflow settings, no pytest.

    Nor this machine's PYTHONDONTWRITEBYTECODE: as on a user's machine, the first command writes
    the bytecode of what it imports into the project's fresh .venv and the next ones reuse it
    (with the variable set, every `uv run mmp ...` compiled mlflow, pandas and scikit-learn anew).
    """
    drop = ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT", "PYTHONPATH", "CONDA_PREFIX", "PYTHONDONTWRITEBYTECODE")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in drop and not k.startswith(("MLFLOW_", "MMP_", "PYTEST_", "UV_RUN"))
    }
    venv_bin = str(Path(os.environ.get("VIRTUAL_ENV", "/nonexistent")) / "bin")
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != venv_bin)
    env["UV_PYTHON_DOWNLOADS"] = "never"  # the machine's Python, like a user's
    return env


def _sh(command: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _wait_ready(port: int, server: subprocess.Popen[str], log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"serve-api exited ({server.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise AssertionError("serve-api never became ready")


def test_generated_readme_quickstart_runs_as_written(tmp_path: Path) -> None:
    if shutil.which("uv") is None or shutil.which("curl") is None:
        pytest.skip("needs uv and curl on PATH (the README's commands)")
    project = create_project("shop", "classification", tmp_path).path
    assert project.joinpath("wheels").glob("mmp_toolkit-*.whl"), "mmp init shipped its wheel"
    quickstart, requests = bash_blocks((project / "README.md").read_text())[:2]
    assert quickstart[0].startswith("uv sync"), "the README starts with uv sync"
    env = _clean_env()
    # The README's default port, moved to a free one so that parallel runs cannot collide.
    port = free_port()
    env["MMP_PORT"] = str(port)
    requests = [command.replace("localhost:8000", f"localhost:{port}") for command in requests]

    server = None
    log = (tmp_path / "serve-api.log").open("w")
    try:
        for command in quickstart:
            if " serve-api " in command:
                # Long-running: in the background, in its own session so it is stopped as a group.
                server = subprocess.Popen(
                    ["bash", "-c", f"exec {command}"],
                    cwd=project,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                    text=True,
                    start_new_session=True,
                )
                _wait_ready(port, server, tmp_path / "serve-api.log")
                continue
            started = time.perf_counter()
            done = _sh(command, project, env)
            print(f"{time.perf_counter() - started:5.1f} s  {command}")
            assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
        assert server is not None, "the quickstart starts the API"
        answers = [_sh(command, project, env) for command in requests]
        assert all(a.returncode == 0 for a in answers), [a.stderr for a in answers]
        assert '"prediction"' in answers[-1].stdout, answers[-1].stdout
    finally:
        if server is not None and server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        log.close()

    lock = tomllib.loads((project / "uv.lock").read_text())
    (mmp,) = [p for p in lock["package"] if p["name"] == "mmp-toolkit"]
    assert mmp["source"] == {"registry": "wheels"}, "mmp-toolkit comes from wheels/ only"
    venv_python = project / ".venv" / "bin" / "python"
    where = subprocess.run(
        [str(venv_python), "-c", "import mmp; print(mmp.__file__)"], capture_output=True, text=True, env=env
    )
    assert str(project / ".venv") in where.stdout, "the project's own venv, not this checkout"
