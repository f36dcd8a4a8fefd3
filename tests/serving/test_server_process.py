"""The real thing: `mmp serve-api` as a process under uvicorn, one worker and two."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import TrainedExample
from tests.ports import free_port

pytestmark = pytest.mark.slow


@contextmanager
def _server(args: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "mmp.cli.main", "serve-api", *args],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        process.output = process.stdout.read() if process.stdout else ""  # type: ignore[attr-defined]
        if process.stdout:
            process.stdout.close()


def _ready(port: int, process: subprocess.Popen[str], timeout_s: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"server exited {process.returncode}: {process.stdout.read() if process.stdout else ''}"
            )
        try:
            response = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2)
            if response.status_code == 200:
                return dict(response.json())
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("server not ready in time")


def test_two_workers_both_load_the_model_and_both_answer(
    trained: dict[str, TrainedExample], session_store: tuple[str, Path]
) -> None:
    _, config_path = session_store
    port = free_port()
    args = [
        "--model-uri",
        "models:/diabetes/1",
        "--config-path",
        str(config_path),
        "--workers",
        "2",
        "--port",
        str(port),
    ]
    with _server(args, {}) as process:
        _ready(port, process)
        pids: set[int] = set()
        deadline = time.monotonic() + 60
        while len(pids) < 2 and time.monotonic() < deadline:  # new connections spread over workers
            response = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=5)
            assert response.status_code == 200, response.text  # ready means every worker is ready
            pids.add(response.json()["pid"])
            time.sleep(0.01)
        assert len(pids) == 2, "only one worker ever became ready"
        body = {"patient_id": 1, "age": 59.0, "sex": 2.0, "bmi": 32.1, "bp": 101.0, "s1": 157.0,
                "s2": 93.2, "s3": 38.0, "s4": 4.0, "s5": 4.8598, "s6": 87.0}  # fmt: skip
        for _ in range(20):  # a new connection each: the workers share them
            answer = httpx.post(f"http://127.0.0.1:{port}/predict", json=body, timeout=10)
            assert answer.status_code == 200 and answer.json()["model"]["version"] == "1"
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        # summed over both workers (multiprocess mode): each loaded the model once
        assert 'mmp_model_events_total{event="load",model_version="1"} 2.0' in metrics
        assert metrics.count('mmp_model_info{name="diabetes"') == 2
        time.sleep(1.5)  # each worker publishes its statistics about once a second
        answered: set[int] = set()
        deadline = time.monotonic() + 30
        while len(answered) < 2 and time.monotonic() < deadline:
            stats = httpx.get(f"http://127.0.0.1:{port}/stats", timeout=5).json()
            answered.add(stats["pid"])  # whichever worker answers counts every worker's requests
            window = stats["windows"]["15m"]
            assert stats["workers"] == 2
            assert window["routes"]["/predict"]["requests"] == 20
            assert window["errors_5xx"] == 0  # the /ready 503s while loading are not failures
        assert len(answered) == 2
    assert process.returncode in (0, 130)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_missing_serving_extra_is_one_line_and_exit_1(workers: str, tmp_path: Path) -> None:
    """As after the quickstart without the serving extra: prometheus_client cannot be imported."""
    blocked = (
        "import sys; sys.modules['prometheus_client'] = None; "
        "from mmp.cli.main import run; sys.argv = ['mmp', *sys.argv[1:]]; run()"
    )
    (tmp_path / "MLmodel").write_text("flavors: {}\n", encoding="utf-8")
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-c", blocked, "serve-api", "-m", str(tmp_path), "--workers", workers,
         "--port", str(free_port())],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert time.monotonic() - started < 10
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 2, result.stderr  # the error and its fix, as every mmp error
    assert lines[0].startswith("Error:") and "prometheus_client" in lines[0]
    assert lines[1].startswith("Fix:") and "serving" in lines[1]
    assert "Traceback" not in result.stdout + result.stderr


def test_a_container_needs_only_environment_variables(
    trained: dict[str, TrainedExample], session_store: tuple[str, Path]
) -> None:
    _, config_path = session_store
    port = free_port()
    env = {
        "MMP_MODEL_URI": "models:/breast_cancer/1",
        "MMP_CONFIG_PATH": str(config_path),
        "MMP_PORT": str(port),
        "MMP_HOST": "127.0.0.1",
        "MMP_API_KEYS": "k-123",
    }
    with _server([], env) as process:
        assert _ready(port, process)["model"]["name"] == "breast_cancer"
        assert httpx.get(f"http://127.0.0.1:{port}/model", timeout=5).status_code == 401
        headers = {"Authorization": "Bearer k-123"}
        assert (
            httpx.get(f"http://127.0.0.1:{port}/model", headers=headers, timeout=5).json()["version"] == "1"
        )
    assert "k-123" not in process.output  # type: ignore[attr-defined]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_model_that_cannot_be_loaded_exits_non_zero_with_one_clear_line(
    trained: dict[str, TrainedExample], session_store: tuple[str, Path], workers: str
) -> None:
    _, config_path = session_store
    args = ["--model-uri", "models:/no_such_model/1", "--config-path", str(config_path)]
    args += ["--workers", workers, "--port", str(free_port())]
    with _server(args, {}) as process:
        process.wait(timeout=120)
    output = process.output  # type: ignore[attr-defined]
    assert process.returncode == 1, output
    assert "Error: cannot serve models:/no_such_model/1" in output
    assert "Traceback" not in output
