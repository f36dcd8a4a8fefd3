"""`mmp init` through the real CLI: files, refusals, prompts (CliRunner input and a real terminal)."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mmp.cli import init as init_cmd
from mmp.cli.main import app
from tests.cli.test_main import mmp

runner = CliRunner()


def test_init_creates_the_project_tree(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["init", "sales-forecast", "--task", "regression", "--directory", str(tmp_path), "--no-input"]
    )
    assert result.exit_code == 0, result.output
    root = tmp_path / "sales-forecast"
    assert (root / "recipes" / "diabetes.yaml").is_file()
    assert (root / "data" / "diabetes.csv").is_file()
    assert (root / "src" / "sales_forecast" / "__init__.py").is_file()
    assert "uv run mmp train -r recipes/diabetes.yaml" in result.output


def test_init_json_lists_what_it_wrote(tmp_path: Path) -> None:
    result = runner.invoke(app, ["init", "demo", "--directory", str(tmp_path), "--no-input", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["task"] == "classification", "classification is the default task"
    assert payload["package"] == "demo"
    on_disk = sorted(
        p.relative_to(tmp_path / "demo").as_posix() for p in (tmp_path / "demo").rglob("*") if p.is_file()
    )
    assert payload["files"] == on_disk


def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    assert mmp("init", "demo", "--directory", str(tmp_path), "--no-input").returncode == 0
    readme = tmp_path / "demo" / "README.md"
    readme.write_text("my notes\n")
    (tmp_path / "demo" / "notes.txt").write_text("keep me\n")

    again = mmp("init", "demo", "--directory", str(tmp_path), "--no-input")
    assert again.returncode == 1
    assert "already exists and is not empty" in again.stderr and "--force" in again.stderr
    assert readme.read_text() == "my notes\n", "nothing is written when refusing"

    forced = mmp(
        "init", "demo", "--directory", str(tmp_path), "--no-input", "--force", "--task", "clustering"
    )
    assert forced.returncode == 0, forced.stderr
    assert readme.read_text().startswith("# demo"), "generated files are replaced"
    assert (tmp_path / "demo" / "notes.txt").read_text() == "keep me\n", "other files are kept"
    assert (tmp_path / "demo" / "recipes" / "cell_segments.yaml").is_file()


def test_init_into_an_empty_existing_folder_needs_no_force(tmp_path: Path) -> None:
    (tmp_path / "demo").mkdir()
    result = runner.invoke(app, ["init", "demo", "--directory", str(tmp_path), "--no-input"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("name", ["../escape", "a/b", "mlflow", "9lives", "bad name"])
def test_init_rejects_bad_names_and_writes_nothing(tmp_path: Path, name: str) -> None:
    done = mmp("init", name, "--directory", str(tmp_path / "work"), "--no-input")
    assert done.returncode == 1
    assert done.stderr.startswith("Error:") and "Fix:" in done.stderr
    assert not (tmp_path / "work").exists()
    assert not (tmp_path / "escape").exists()


def test_init_without_a_name_and_no_terminal_says_what_to_type(tmp_path: Path) -> None:
    done = mmp("init", "--directory", str(tmp_path))
    assert done.returncode == 1
    assert "missing the project name" in done.stderr and "mmp init NAME" in done.stderr


def test_unknown_task_is_a_usage_error(tmp_path: Path) -> None:
    done = mmp("init", "demo", "--task", "forecasting", "--directory", str(tmp_path))
    assert done.returncode == 2
    assert "forecasting" in done.stderr


def test_prompts_ask_for_what_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(init_cmd, "stdin_is_tty", lambda: True)
    result = runner.invoke(app, ["init", "--directory", str(tmp_path)], input="../bad\nmy-shop\n7\n3\n")
    assert result.exit_code == 0, result.output
    assert "contains a path" in result.output, "a bad name is explained and asked again"
    assert "not one of the choices" in result.output, "a bad menu answer is asked again"
    assert "1. classification" in result.output and "4. clustering" in result.output
    assert (tmp_path / "my-shop" / "recipes" / "retail_sell_through.yaml").is_file()


def test_prompt_accepts_the_task_name_and_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(init_cmd, "stdin_is_tty", lambda: True)
    named = runner.invoke(app, ["init", "a", "--directory", str(tmp_path)], input="clustering\n")
    assert named.exit_code == 0, named.output
    assert (tmp_path / "a" / "recipes" / "cell_segments.yaml").is_file()
    default = runner.invoke(app, ["init", "b", "--directory", str(tmp_path)], input="\n")
    assert default.exit_code == 0, default.output
    assert (tmp_path / "b" / "recipes" / "breast_cancer.yaml").is_file()


def test_no_input_never_prompts_even_on_a_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(init_cmd, "stdin_is_tty", lambda: True)
    result = runner.invoke(app, ["init", "quiet", "--directory", str(tmp_path), "--no-input"], input="")
    assert result.exit_code == 0, result.output
    assert "Task" not in result.output
    assert (tmp_path / "quiet" / "recipes" / "breast_cancer.yaml").is_file()


def _read_until(fd: int, marker: bytes, timeout: float = 30) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"never saw {marker!r}; got {seen.decode(errors='replace')!r}")
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
    return seen


def test_prompts_on_a_real_terminal(tmp_path: Path) -> None:
    """stdin is a pseudo-terminal: no test hook, the prompts appear as a user would see them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MMP_"))}
    env["TERM"] = "dumb"
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "mmp.cli.main", "init", "--directory", str(tmp_path)],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env=env,
        close_fds=True,
    )
    os.close(terminal)
    try:
        _read_until(controller, b"Project name")
        os.write(controller, b"pty-project\n")
        _read_until(controller, b"Task")
        os.write(controller, b"2\n")
        output = _read_until(controller, b"Created")
        assert process.wait(timeout=60) == 0, output.decode(errors="replace")
    finally:
        if process.poll() is None:
            process.kill()
        os.close(controller)
    assert (tmp_path / "pty-project" / "recipes" / "diabetes.yaml").is_file()
