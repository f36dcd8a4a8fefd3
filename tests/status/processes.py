"""Real processes for the status end-to-end tests: `mmp` commands in the background with their
output kept for failure messages, readiness waits, and a load generator that times each call."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx

from mmp.core.latency import DEFAULT_LATENCY_BUCKETS_S

LOGS: list[Path] = []


@contextmanager
def process(args: list[str], env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"mmp-status-e2e-{os.getpid()}-{len(LOGS)}.log"
    LOGS.append(log)
    with log.open("wb") as sink:
        running = subprocess.Popen(
            [sys.executable, "-m", "mmp.cli.main", *args],
            env={**os.environ, **(env or {})},
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        yield running
    finally:
        stop(running)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait(condition: Callable[[], Any], what: str, timeout_s: float = 90.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            result = condition()
        except httpx.HTTPError:
            result = None
        if result:
            return result
        time.sleep(0.1)
    tails = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-1500:]}" for p in LOGS if p.exists())
    raise AssertionError(f"timed out waiting for {what}\n{tails}")


def ready(port: int) -> bool:
    return httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2).status_code == 200


def status_fresh(port: int) -> bool:
    """`mmp status` on this port answers and has collected recently."""
    answer = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2)
    return answer.status_code == 200 and answer.json().get("status") == "success"


def example(port: int) -> dict[str, Any]:
    schema = httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=5).json()
    ref = schema["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    return dict(schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]["examples"][0])


def load(port: int, total: int, threads: int = 2, status: int = 200) -> list[float]:
    """`total` /predict calls over `threads` keep-alive connections, each answered `status`; each
    call's own duration."""
    body = example(port)
    timings: list[float] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            for _ in range(n):
                started = time.perf_counter()
                response = client.post("/predict", json=body)
                elapsed = time.perf_counter() - started
                assert response.status_code == status, response.text
                with lock:
                    timings.append(elapsed)

    pool = [threading.Thread(target=worker, args=(total // threads,)) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=60)
    return timings


def bucket(seconds: float) -> int:
    return next(
        (i for i, edge in enumerate(DEFAULT_LATENCY_BUCKETS_S) if seconds <= edge),
        len(DEFAULT_LATENCY_BUCKETS_S),
    )


def serve(
    stack: ExitStack, port: int, uri: str, config: Path, *extra: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    args = ["serve-api", "-m", uri, "--config-path", str(config), "--port", str(port), *extra]
    return stack.enter_context(process(args, env))
