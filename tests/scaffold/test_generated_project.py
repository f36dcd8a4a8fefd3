"""A generated project's own tests pass: its recipe validates, its example trains, exports and scores.

They run with this environment's interpreter (where mmp is installed), exactly as `uv run pytest`
would inside the project after `uv sync`. Two tasks keep the suite short: clustering (its example
exists only in projects) and regression; the test files are the same for every task, every
example recipe is validated against its data in test_templates.py, and the classification
example is trained and exported by the container tests (tests/docker).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mmp.scaffold.project import create_project


@pytest.mark.slow
@pytest.mark.parametrize("task", ["clustering", "regression"])
def test_generated_project_tests_pass(task: str, tmp_path: Path) -> None:
    project = create_project(f"{task}-project", task, tmp_path).path
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MMP_", "PYTEST_"))}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "2 passed" in done.stdout
    assert not (project / "mlruns.db").exists(), "the project's tests never touch its own store"
