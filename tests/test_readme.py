"""README.md's examples run as written, on a copy of the repository's recipes, configs and data.

Every ```bash block after the Quickstart runs in order in one temp folder (so the local tracking
store, `mlruns.db`, is a temp one), with `mmp` on PATH. `serve-api` is long-running: it starts in
the background (on a free port, which the `curl` lines are pointed at) and answers the `curl`
examples. Skipped: the Quickstart block, whose commands are CI itself (`scripts/check`).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.ports import free_port
from tests.shell_blocks import bash_blocks

pytestmark = pytest.mark.slow


def test_bash_blocks_are_parsed_like_a_shell_reads_them() -> None:
    text = "x\n```bash\n# note\nmmp a \\\n  --b c   # why\n\nmmp d\n```\n```python\nno\n```\n"
    assert bash_blocks(text) == [["mmp a --b c   # why", "mmp d"]]


def test_readme_examples_run_as_written(tmp_path: Path) -> None:
    if shutil.which("curl") is None:
        pytest.skip("the README's curl example needs curl")
    blocks = bash_blocks((REPO / "README.md").read_text(encoding="utf-8"))
    quickstart, examples = blocks[0], blocks[1:]
    assert any("scripts/check" in command for command in quickstart)
    for folder in ("recipes", "configs", "data"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MMP_", "PYTEST_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # `mmp` as installed
    env["MMP_PORT"] = str(port)
    log = (tmp_path / "serve-api.log").open("w")
    servers: list[subprocess.Popen[bytes]] = []
    ran = []
    try:
        for block in examples:
            for command in block:
                command = command.replace("localhost:8000", f"localhost:{port}")
                if " serve-api " in f" {command} ":
                    servers.append(
                        subprocess.Popen(
                            ["bash", "-c", f"exec {command}"],
                            cwd=tmp_path,
                            env=env,
                            stdout=log,
                            stderr=log,
                            start_new_session=True,
                        )
                    )
                    _wait_ready(port, servers[-1], tmp_path / "serve-api.log")
                    continue
                started = time.perf_counter()
                done = subprocess.run(
                    ["bash", "-euo", "pipefail", "-c", command],
                    cwd=tmp_path,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=600,
                )
                assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
                ran.append((command, done.stdout))
                print(f"{time.perf_counter() - started:5.1f} s  {command[:90]}")
    finally:
        for server in servers:
            if server.poll() is None:
                os.killpg(server.pid, signal.SIGTERM)
                server.wait(timeout=60)
        log.close()
    assert servers, "the README starts the API"
    (answer,) = [out for command, out in ran if command.startswith("curl") and "/predict" in command]
    assert '"prediction"' in answer and '"entities":{"patient_id":1}' in answer.replace(" ", "")
    assert (tmp_path / "preds.parquet").is_file()
    assert (tmp_path / "sales-forecast" / "pyproject.toml").is_file()


def _wait_ready(port: int, server: subprocess.Popen[bytes], log: Path, timeout: float = 180) -> None:
    """Ready = several /ready answers in a row: with --workers 2 each worker loads the model."""
    deadline, in_a_row = time.monotonic() + timeout, 0
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"serve-api exited ({server.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2):
                in_a_row += 1
            if in_a_row >= 8:
                return
        except OSError:
            in_a_row = 0
            time.sleep(0.5)
    raise AssertionError(f"serve-api never became ready:\n{log.read_text()[-3000:]}")
