"""The real thing: three `mmp serve-api` servers (one with 2 workers, one serving a deliberately slow
model), one `mmp status` process, a bounded load from this test, a webhook receiver, and the page in
headless Chromium."""

from __future__ import annotations

import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from mmp.core.latency import DEFAULT_LATENCY_BUCKETS_S
from tests.conftest import DATA, RECIPES, TrainedExample
from tests.status.fakes import WebhookReceiver

pytestmark = pytest.mark.slow

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1200,800",
]
REQUESTS_PER_SERVER = 200
SLOW_S = 1.2  # the slow model's wait per call: in the (1.0, 2.5] s bucket, far above the fast ones
SLOW_REQUESTS = 6


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


LOGS: list[Path] = []


@contextmanager
def _process(args: list[str], env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"mmp-status-e2e-{os.getpid()}-{len(LOGS)}.log"
    LOGS.append(log)
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "mmp.cli.main", *args],
            env={**os.environ, **(env or {})},
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait(condition: Callable[[], Any], what: str, timeout_s: float = 90.0) -> Any:
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


def _ready(port: int) -> bool:
    return httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2).status_code == 200


def _example(port: int) -> dict[str, Any]:
    schema = httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=5).json()
    ref = schema["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    return dict(schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]["examples"][0])


def _load(port: int, total: int, threads: int = 2) -> list[float]:
    """`total` /predict calls over `threads` keep-alive connections; each call's own duration."""
    body = _example(port)
    timings: list[float] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            for _ in range(n):
                started = time.perf_counter()
                response = client.post("/predict", json=body)
                elapsed = time.perf_counter() - started
                assert response.status_code == 200, response.text
                with lock:
                    timings.append(elapsed)

    pool = [threading.Thread(target=worker, args=(total // threads,)) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=60)
    return timings


def _bucket(seconds: float) -> int:
    return next(
        (i for i, edge in enumerate(DEFAULT_LATENCY_BUCKETS_S) if seconds <= edge),
        len(DEFAULT_LATENCY_BUCKETS_S),
    )


def _register_twice(example: TrainedExample, name: str) -> None:
    import mlflow

    client = mlflow.MlflowClient(example.tracking_uri)
    mlflow.set_tracking_uri(example.tracking_uri)
    for _ in range(2):
        mlflow.register_model(example.model_uri, name)
    client.set_registered_model_alias(name, "champion", "1")


def _serve(
    stack: ExitStack, port: int, uri: str, config: Path, *extra: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    args = ["serve-api", "-m", uri, "--config-path", str(config), "--port", str(port), *extra]
    return stack.enter_context(_process(args, env))


@pytest.fixture(scope="module")
def slow_model(session_store: tuple[str, Path], tmp_path_factory: pytest.TempPathFactory) -> str:
    """A real model trained by mmp whose pipeline sleeps in `predict` when served (see slow_model)."""
    import cloudpickle
    import yaml

    import tests.status.slow_model as slow_module
    from mmp.pipelines.train import train
    from mmp.recipe.loader import load_config, load_recipe

    recipe = yaml.safe_load((RECIPES / "diabetes.yaml").read_text(encoding="utf-8"))
    recipe["name"] = "status_slow"
    recipe["model"] = {"class_path": "tests.status.slow_model.SlowRegressor", "hyperparameters": {}}
    recipe["evaluation"] = {"metrics": ["rmse"]}
    path = tmp_path_factory.mktemp("slow-recipe") / "slow.yaml"
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    cloudpickle.register_pickle_by_value(slow_module)
    try:
        result = train(
            load_recipe(path),
            load_config(session_store[1]),
            str(DATA / "diabetes.csv"),
            register_as="status_slow",
        )
    finally:
        cloudpickle.unregister_pickle_by_value(slow_module)
    return f"models:/status_slow/{result.registered_version}"


def test_status_watches_real_servers(
    trained: dict[str, TrainedExample], slow_model: str, session_store: tuple[str, Path], tmp_path: Path
) -> None:
    tracking_uri, config_path = session_store
    _register_twice(trained["breast_cancer"], "status_bc")
    port_a, port_b, port_slow, port_status = _free_port(), _free_port(), _free_port(), _free_port()
    hook = WebhookReceiver()
    status_yaml = tmp_path / "status.yaml"
    status_yaml.write_text(
        f"""
interval_s: 0.5
current_window_s: 600
# good is generous (this machine may be busy with other tests); the slow model's p95 is at least
# SLOW_S = 1.2 s, in the bucket above 1 s, so at least 1000 ms however the bucket is interpolated
thresholds: {{good_ms: 900, warning_ms: 1000}}
targets:
  - {{name: churn, url: "http://127.0.0.1:{port_a}"}}
  - {{name: sales, url: "http://127.0.0.1:{port_b}"}}
  - {{name: slow, url: "http://127.0.0.1:{port_slow}"}}
alerts:
  rules:
    - {{kind: target_down, for_intervals: 3}}
""",
        encoding="utf-8",
    )
    status_env = {
        "MMP_STATUS_DATABASE_URL": f"sqlite:///{tmp_path / 'status.db'}",
        "MMP_STATUS_WEBHOOK_URL": f"{hook.url}/services/T000/B000/secret",
    }
    api = f"http://127.0.0.1:{port_status}"

    def current() -> dict[str, dict[str, Any]]:
        return {m["model_name"]: m for m in httpx.get(f"{api}/api/metrics", timeout=5).json()["data"]}

    with ExitStack() as stack:
        stack.callback(hook.close)
        _serve(stack, port_a, "models:/status_bc@champion", config_path, "--reload-interval", "0.5")
        server_b = _serve(stack, port_b, "models:/diabetes/1", config_path, "--workers", "2")
        _serve(stack, port_slow, slow_model, config_path, env={"SLOW_MODEL_DELAY_S": str(SLOW_S)})
        started = time.monotonic()
        _wait(lambda: all(_ready(p) for p in (port_a, port_b, port_slow)), "the model servers", timeout_s=240)
        print(f"servers ready in {time.monotonic() - started:.1f}s")
        # started after the servers: a server still starting is (rightly) down and would alert
        stack.enter_context(
            _process(["status", "-c", str(status_yaml), "--port", str(port_status)], status_env)
        )
        _wait(lambda: httpx.get(f"{api}/api/health", timeout=2).json()["status"] == "success", "status")

        counts = {"churn": REQUESTS_PER_SERVER, "sales": REQUESTS_PER_SERVER, "slow": SLOW_REQUESTS}
        timings: dict[str, list[float]] = {}
        # the slow model's calls mostly sleep: they run beside the fast servers' load
        slow_load = threading.Thread(target=lambda: timings.update(slow=_load(port_slow, SLOW_REQUESTS, 3)))
        slow_load.start()
        timings["churn"] = _load(port_a, REQUESTS_PER_SERVER)
        timings["sales"] = _load(port_b, REQUESTS_PER_SERVER)
        slow_load.join(timeout=60)
        seen = _wait(
            lambda: (now := current()) and all(now[n]["requests"] >= counts[n] for n in counts) and now,
            "the load in the status service",
        )
        for name, own in timings.items():
            own_p95 = sorted(own)[math.ceil(0.95 * len(own)) - 1]
            reported = seen[name]["p95_ms"] / 1000
            assert abs(_bucket(reported) - _bucket(own_p95)) <= 1, (name, reported, own_p95)
        assert min(timings["slow"]) >= SLOW_S
        assert seen["churn"]["state"] == "good" and seen["slow"]["state"] == "danger", seen

        print(
            f"load measured at {time.monotonic() - started:.1f}s", {n: m["p95_ms"] for n, m in seen.items()}
        )
        # the page in a real browser: a green tile for the fast model, a red one for the slow one
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / "status-page.png"
        _chromium(tmp_path, "--screenshot=" + str(shot), api)
        dom = _chromium(tmp_path, "--dump-dom", api)
        assert 'class="tile good" id="churn"' in dom and 'class="tile danger" id="slow"' in dom
        _assert_colours(shot, {"good": (0x1A, 0x7F, 0x37), "danger": (0xCF, 0x22, 0x2E)})

        print(f"page checked at {time.monotonic() - started:.1f}s")
        # a hot reload shows as a version change
        import mlflow

        mlflow.MlflowClient(tracking_uri).set_registered_model_alias("status_bc", "champion", "2")
        _wait(
            lambda: [
                e
                for e in httpx.get(f"{api}/api/timeline", params={"model_name": "churn"}, timeout=5).json()[
                    "data"
                ]
                if e["event"] == "version_change"
                and (e["previous_version"], e["model_version"]) == ("1", "2")
            ],
            "the reload on the timeline",
        )

        print(f"reload seen at {time.monotonic() - started:.1f}s")
        # one server stops: down within 3 scrapes, one alert; back: one "resolved"
        _stop(server_b)
        stopped = time.monotonic()
        _wait(lambda: current()["sales"]["state"] == "down", "sales down", timeout_s=10)
        assert time.monotonic() - stopped < 3 * 0.5 + 1.5
        _wait(lambda: [m for m in hook.received if "sales is down" in m["text"]], "the down alert", 20)
        _serve(stack, port_b, "models:/diabetes/1", config_path)
        _wait(lambda: _ready(port_b), "sales back")
        _wait(lambda: [m for m in hook.received if "[RESOLVED]" in m["text"]], "the resolved alert", 20)
        time.sleep(1.0)  # a few more scrapes: nothing is sent twice
        texts = [m["text"] for m in hook.received]
        print("\n".join(texts))
        assert len([t for t in texts if "[FIRING]" in t and "sales is down" in t]) == 1, texts
        assert len([t for t in texts if "[RESOLVED]" in t and "sales" in t]) == 1, texts
        assert all("secret" not in t for t in texts)


def _chromium(tmp_path: Path, mode: str, url: str) -> str:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        pytest.skip("chromium not installed (apt-get install chromium)")
    profile = tmp_path / f"chromium-{time.monotonic_ns()}"
    result = subprocess.run(
        [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", mode, url],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def _assert_colours(png: Path, colours: dict[str, tuple[int, int, int]]) -> None:
    from PIL import Image

    with Image.open(png) as image:
        found = {rgb: n for n, rgb in image.convert("RGB").getcolors(maxcolors=1 << 24) or []}
    counts = {name: found.get(rgb, 0) for name, rgb in colours.items()}
    assert all(n > 500 for n in counts.values()), counts  # each colour fills a tile header
