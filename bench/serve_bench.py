"""Serving benchmark: `mmp serve-api` (1 and 2 workers, prediction log off and on) vs the floor vs
`mlflow models serve`, same run.

The floor is the smallest FastAPI app that calls the same scikit-learn pipeline directly
(`bench/serve_minimal_app.py`: sklearn flavor, no pyfunc, no validation). Trains one example into a
temporary MLflow store (a logistic regression by default, `--model rf` for a 100-tree random
forest), byte-compiles the environment, then measures, interleaving the servers so a burst of load
from elsewhere on the machine hits every server alike, and reports the median of `--rounds` (>= 3)
repetitions:

- time from process start to the first `/ready` 200 (each server started `--rounds` times, after
  one untimed start that fills the bytecode caches);
- p50/p99 latency and throughput of one-record requests at 1, 8 and 32 concurrent clients (a
  separate load process: a bare asyncio protocol speaking HTTP/1.1, one keep-alive connection per client,
  closed loop, on uvloop when installed; lean so that it takes little of the cores the servers share
  with it: its CPU share is printed per level);
- the same at 1 and 32 clients with the prediction log on (`serving.prediction_log`, Parquet);
- p50 of one request of 1000 records (`/predict/batch`; `/invocations` for MLflow).

It prints the ratios the serving issues set as targets (1-client p50 <= 1.1x floor, 2 workers at 1
client <= 1 worker, 2 workers at 32 clients >= 1.7x 1 worker, 1000 rows <= 1.2x floor, ready <=
1.5x floor, prediction log on / off p50 <= 1.1x at 1 and 32 clients) with the machine's load
average at the start and the end: on a busy machine every absolute number moves, the ratios much
less. Every loop is bounded in count and time; all traffic goes to 127.0.0.1. About 5 minutes on
2 quiet cores.

    uv run python bench/serve_bench.py                       # LR on breast_cancer, 3 rounds x 3 s
    uv run python bench/serve_bench.py --model rf --duration 2 --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
MAX_REQUESTS_PER_LEVEL = 200_000
PORT = "{port}"  # placeholder in server commands, replaced by a free port at each start


# ---------------------------------------------------------------- load process


class _Client(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection in a closed loop: send the prepared request, read the
    whole response, note the latency, send again, until the deadline.

    Written as a bare asyncio protocol (callbacks, no coroutine or HTTP library per request): the
    load generator runs on the same cores as the servers, so every microsecond it spends per
    request is taken from them. httpx cost several times more per request, which capped what two
    workers could show."""

    def __init__(self, request: bytes, deadline: float, latencies: list[float], done: asyncio.Future[int]):
        self.request, self.deadline, self.latencies, self.done = request, deadline, latencies, done
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.started = 0.0
        self.errors = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCP transport has asyncio.Transport's methods without subclassing it
        self.transport = cast(asyncio.Transport, transport)
        self._send()

    def _send(self) -> None:
        assert self.transport is not None
        if time.perf_counter() >= self.deadline or len(self.latencies) >= MAX_REQUESTS_PER_LEVEL:
            self.transport.close()
            return
        self.started = time.perf_counter()
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self.buffer[:end].lower()
        marker = head.find(b"\r\ncontent-length:")
        if marker >= 0:
            value_end = head.find(b"\r\n", marker + 2)
            length = int(head[marker + 17 : value_end if value_end >= 0 else None])
            if len(self.buffer) < end + 4 + length:
                return
        elif not self.buffer.endswith(b"0\r\n\r\n"):  # chunked: wait for the last chunk
            return
        if self.buffer[9:12] == b"200":
            self.latencies.append(time.perf_counter() - self.started)
        else:
            self.errors += 1
        self.buffer = b""
        self._send()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(self.errors + (1 if self.buffer else 0))


def _request(url: str, body: bytes) -> tuple[str, int, bytes]:
    rest = url.removeprefix("http://")
    hostport, _, path = rest.partition("/")
    host, _, port = hostport.partition(":")
    head = (
        f"POST /{path} HTTP/1.1\r\nHost: {hostport}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n"
    )
    return host, int(port), head.encode("ascii") + body


async def _drive(url: str, body: bytes, clients: int, duration_s: float) -> dict[str, Any]:
    host, port, request = _request(url, body)
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    errors = 0
    started = time.perf_counter()
    deadline = started + duration_s
    finished: list[asyncio.Future[int]] = []
    for _ in range(clients):
        done: asyncio.Future[int] = loop.create_future()
        try:
            await loop.create_connection(lambda d=done: _Client(request, deadline, latencies, d), host, port)
        except OSError:
            errors += 1
            continue
        finished.append(done)
    if finished:
        await asyncio.wait_for(asyncio.gather(*finished), duration_s + 60)
    errors += sum(f.result() for f in finished)
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "clients": clients,
        "requests": len(latencies),
        "errors": errors,
        "p50_ms": 1000 * latencies[len(latencies) // 2] if latencies else None,
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        if latencies
        else None,
        "throughput": len(latencies) / elapsed,
    }


def load_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--body", required=True)
    parser.add_argument("--clients", type=int, required=True)
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--loop", choices=["auto", "asyncio"], default="auto")
    args = parser.parse_args(argv)
    assert args.url.startswith("http://127.0.0.1:"), "benchmark traffic stays on this machine"
    body = Path(args.body).read_bytes()
    run = _event_loop_runner() if args.loop == "auto" else asyncio.run
    # a short warm-up so connection setup and first-call costs are not measured
    run(_drive(args.url, body, args.clients, min(1.0, args.duration / 4)))
    before = time.process_time()
    result = run(_drive(args.url, body, args.clients, args.duration))
    result["load_cpu_share"] = (time.process_time() - before) / args.duration  # of one core
    print(json.dumps(result))


def _event_loop_runner() -> Any:
    """uvloop's runner when it is installed (the serving extra brings it), else asyncio's.

    The load generator shares the cores with the servers: with uvloop's transports it spends about
    half the CPU per request that asyncio's cost, CPU the servers then keep (the share is printed).
    """
    try:
        import uvloop
    except ImportError:
        return asyncio.run
    return uvloop.run


# ---------------------------------------------------------------- orchestration


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONWARNINGS"] = "ignore"
    # `mlflow models serve` execs `uvicorn` by name: the environment's scripts must be on PATH.
    env["PATH"] = f"{Path(PYTHON).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


class Server:
    """One server under test: how to start it, where it is ready, where it scores."""

    def __init__(
        self,
        name: str,
        command: list[str],
        ready_path: str,
        predict_path: str,
        body: bytes,
        batch_path: str,
        batch_body: bytes,
    ) -> None:
        self.name = name
        self.command = command
        self.ready_path = ready_path
        self.predict_path = predict_path
        self.body = body
        self.batch_path = batch_path
        self.batch_body = batch_body
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 180.0) -> float:
        """Start and wait for readiness; returns seconds from spawn to the first 200."""
        import httpx

        started = time.perf_counter()
        self.port = _free_port()  # a fresh port per start: never race a previous instance's socket
        command = [str(self.port) if part == PORT else part for part in self.command]
        # Its own process group: `mlflow models serve` runs uvicorn as a child, which must stop too.
        self.process = subprocess.Popen(
            command,
            env=_env(),
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        url = f"http://127.0.0.1:{self.port}{self.ready_path}"
        while time.perf_counter() - started < timeout_s:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}")
            try:
                if httpx.get(url, timeout=1).status_code == 200:
                    return time.perf_counter() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.01)
        self.stop()
        raise RuntimeError(f"{self.name} not ready after {timeout_s}s")

    def stop(self) -> None:
        if self.process is None:
            return
        group = self.process.pid  # the session leader's pid is its process group id
        if self.process.poll() is None:
            os.killpg(group, signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(group, signal.SIGKILL)
                self.process.wait()
        with contextlib.suppress(ProcessLookupError):  # a child that outlived its parent
            os.killpg(group, signal.SIGKILL)
        self.process = None

    def check(self) -> None:
        import httpx

        for path, body in ((self.predict_path, self.body), (self.batch_path, self.batch_body)):
            response = httpx.post(
                f"http://127.0.0.1:{self.port}{path}",
                content=body,
                headers={"content-type": "application/json"},
                timeout=60,
            )
            if response.status_code != 200:
                raise RuntimeError(f"{self.name} answered {response.status_code}: {response.text[:300]}")

    def settle(self, timeout_s: float = 15.0) -> None:
        """Wait until the server's processes stop using CPU: a server that queued requests (a thread
        pool) keeps working after its clients left, and must not bill that to the next one measured."""
        if self.process is None:
            return
        group = self.process.pid
        deadline = time.perf_counter() + timeout_s
        before = _group_cpu_ticks(group)
        while time.perf_counter() < deadline:
            time.sleep(0.2)
            now = _group_cpu_ticks(group)
            if now - before <= 2:  # at most 2 ticks (20 ms) of CPU in 200 ms: idle
                return
            before = now

    def load(self, clients: int, duration_s: float, workdir: Path, big: bool = False) -> dict[str, Any]:
        body_file = workdir / f"{self.name}{'-batch' if big else ''}.json"
        body_file.write_bytes(self.batch_body if big else self.body)
        path = self.batch_path if big else self.predict_path
        command = [
            PYTHON, __file__, "load",
            "--url", f"http://127.0.0.1:{self.port}{path}",
            "--body", str(body_file), "--clients", str(clients), "--duration", str(duration_s),
        ]  # fmt: skip
        out = subprocess.run(
            command, capture_output=True, text=True, timeout=duration_s * 3 + 120, env=_env()
        )
        if out.returncode != 0:
            raise RuntimeError(out.stderr[-2000:])
        self.settle()
        return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _group_cpu_ticks(group: int) -> int:
    """CPU ticks (user + system) of every process in a process group (Linux /proc; 0 elsewhere)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == group:  # fields after the name: state, ppid, pgrp, ...
                total += int(fields[11]) + int(fields[12])
    return total


MODELS = {
    "lr": "model:\n  class_path: sklearn.linear_model.LogisticRegression\n  hyperparameters:\n"
    "    max_iter: 2000\n",
    "rf": "model:\n  class_path: sklearn.ensemble.RandomForestClassifier\n  hyperparameters:\n"
    "    n_estimators: 100\n    n_jobs: 1\n",
}
BATCH_ROWS = 1000


def _train(model: str, folder: Path) -> tuple[str, Path, str]:
    import re

    sys.path.insert(0, str(REPO))
    from mmp.pipelines.train import train
    from mmp.recipe.loader import load_config, load_recipe

    uri = f"sqlite:///{folder / 'mlruns.db'}"
    config = folder / "config.yaml"
    config.write_text(
        f"mlflow:\n  tracking_uri: {uri}\n  experiment: bench\n  artifact_location: {folder / 'artifacts'}\n",
        encoding="utf-8",
    )
    recipe = (REPO / "recipes" / "breast_cancer.yaml").read_text(encoding="utf-8")
    recipe = re.sub(r"model:\n(  .*\n)+", MODELS[model], recipe, count=1)
    recipe_path = folder / "recipe.yaml"
    recipe_path.write_text(recipe, encoding="utf-8")
    data = str(REPO / "data" / "breast_cancer.csv")
    result = train(load_recipe(recipe_path), load_config(config), data, register_as=None)
    return result.run_id, config, uri


def _bodies(run_id: str, uri: str) -> dict[str, bytes]:
    """Request bodies for the same data rows: one record and 1000 records, mmp/floor and MLflow form."""
    import mlflow
    import pandas as pd

    from mmp.core.model_store import load_model

    mlflow.set_tracking_uri(uri)
    contract = load_model(f"runs:/{run_id}/model", uri).contract
    data = pd.read_csv(REPO / "data" / "breast_cancer.csv")
    rows = pd.concat([data] * (BATCH_ROWS // len(data) + 1)).head(BATCH_ROWS)
    records = json.loads(rows[contract.request_columns].to_json(orient="records", double_precision=15))
    features = [{k: r[k] for k in contract.model_input_columns} for r in records]
    return {
        "one": json.dumps(records[0]).encode(),
        "one_mlflow": json.dumps({"dataframe_records": features[:1]}).encode(),
        "batch": json.dumps({"records": records}).encode(),
        "batch_mlflow": json.dumps({"dataframe_records": features}).encode(),
    }


def _byte_compile() -> None:
    """This machine sets PYTHONDONTWRITEBYTECODE: compile once, so no server pays for it."""
    subprocess.run(
        [PYTHON, "-m", "compileall", "-q", "-j", "0", sys.prefix, str(REPO / "src")],
        check=False,
        capture_output=True,
        timeout=1800,
    )


def _log_config(config: Path, folder: Path) -> Path:
    """The same config with the prediction log on (Parquet files in the temporary folder)."""
    logged = folder / "config-log.yaml"
    logged.write_text(
        config.read_text(encoding="utf-8")
        + f"serving:\n  prediction_log:\n    enabled: true\n    path: {folder / 'predictions'}\n",
        encoding="utf-8",
    )
    return logged


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "load":
        load_main(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="lr", choices=sorted(MODELS))
    parser.add_argument("--duration", type=float, default=3.0, help="seconds of load per round")
    parser.add_argument("--levels", default="1,8,32")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved repetitions (>= 3)")
    parser.add_argument("--skip-mlflow", action="store_true", help="leave out mlflow models serve")
    args = parser.parse_args()
    levels = sorted({int(x) for x in args.levels.split(",")} | {1, 32})
    rounds = max(3, args.rounds)
    load_start = os.getloadavg()
    began = time.perf_counter()

    with tempfile.TemporaryDirectory(prefix="mmp-serve-bench-") as tmp:
        folder = Path(tmp)
        print("byte-compiling the environment...", flush=True)
        _byte_compile()
        print(f"training breast_cancer ({args.model}) into a temporary store...", flush=True)
        run_id, config, uri = _train(args.model, folder)
        bodies = _bodies(run_id, uri)
        model_uri = f"runs:/{run_id}/model"

        def mmp(config_path: Path, *extra: str) -> list[str]:
            return [PYTHON, "-m", "mmp.cli.main", "serve-api", "--run-id", run_id,
                    "--config-path", str(config_path), "--log-level", "warning",
                    "--max-batch-records", str(BATCH_ROWS), "--port", PORT, *extra]  # fmt: skip

        def served(name: str, command: list[str]) -> Server:
            one, many = bodies["one"], bodies["batch"]
            return Server(name, command, "/ready", "/predict", one, "/predict/batch", many)

        servers = [
            served("mmp", mmp(config)),
            served("mmp-w2", mmp(config, "--workers", "2")),
            served("floor", [PYTHON, str(REPO / "bench" / "serve_minimal_app.py"), "--model-uri", model_uri,
                             "--port", PORT]),
        ]  # fmt: skip
        if not args.skip_mlflow:
            servers.append(
                Server(
                    "mlflow",
                    [str(Path(PYTHON).with_name("mlflow")), "models", "serve", "-m", model_uri,
                     "--env-manager", "local", "-h", "127.0.0.1", "--port", PORT],
                    "/ping", "/invocations", bodies["one_mlflow"], "/invocations", bodies["batch_mlflow"],
                )
            )  # fmt: skip
        logged = served("mmp-log", mmp(_log_config(config, folder)))
        every = [*servers, logged]
        # What each measurement runs on (the prediction log only where its target is: 1 and 32 clients).
        at_level = {c: every if c in (1, 32) else servers for c in levels}
        batch_servers = [s for s in servers if s.name != "mmp-w2"]
        os.environ["MLFLOW_TRACKING_URI"] = uri  # the mlflow and floor servers resolve runs:/ with it
        results: dict[str, dict[str, Any]] = {s.name: {"ready": [], "levels": {}} for s in every}
        try:
            for server in servers:
                print(f"{server.name}: priming start (fills bytecode caches)...", flush=True)
                server.start()
                server.stop()
            for _ in range(rounds):  # interleaved: each server started once per round
                for server in servers:
                    results[server.name]["ready"].append(server.start())
                    server.stop()
            for server in servers:
                ready = statistics.median(results[server.name]["ready"])
                results[server.name]["ready_s"] = ready
                print(f"  {server.name:8s} ready in {ready:.2f} s (median of {rounds})", flush=True)
            for server in every:
                server.start()
                server.check()
            for clients in levels:
                measured: dict[str, list[dict[str, Any]]] = {s.name: [] for s in at_level[clients]}
                for r in range(rounds):  # interleaved, and each round in a rotated order
                    for server in _rotated(at_level[clients], r):
                        measured[server.name].append(server.load(clients, args.duration, folder))
                for server in at_level[clients]:
                    level = _median_of(measured[server.name])
                    results[server.name]["levels"][clients] = level
                    print(
                        f"  {server.name:8s} {clients:3d} clients: p50 {level['p50_ms']:7.2f} ms  "
                        f"p99 {level['p99_ms']:7.2f} ms  {level['throughput']:8.1f} req/s  "
                        f"errors {level['errors']}  load generator {level['load_cpu_share']:.0%} of a core",
                        flush=True,
                    )
            batch: dict[str, list[dict[str, Any]]] = {s.name: [] for s in batch_servers}
            for r in range(rounds):
                for server in _rotated(batch_servers, r):
                    batch[server.name].append(server.load(1, args.duration, folder, big=True))
            for server in batch_servers:
                results[server.name]["batch"] = _median_of(batch[server.name])
                p50 = results[server.name]["batch"]["p50_ms"]
                print(f"  {server.name:8s} {BATCH_ROWS} rows: p50 {p50:.2f} ms", flush=True)
        finally:
            for server in every:
                server.stop()
        logged_files = len(list((folder / "predictions").rglob("*.parquet")))
        _report(results, levels, args.model, load_start, time.perf_counter() - began, logged_files)


def _rotated(servers: list[Server], by: int) -> list[Server]:
    """The servers in another order each round, so none is always measured right after the same one."""
    by %= len(servers)
    return servers[by:] + servers[:by]


def _median_of(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Per measure, the median over the rounds."""
    return {
        "p50_ms": statistics.median(r["p50_ms"] for r in rounds),
        "p99_ms": statistics.median(r["p99_ms"] for r in rounds),
        "throughput": statistics.median(r["throughput"] for r in rounds),
        "errors": sum(r["errors"] for r in rounds),
        "load_cpu_share": statistics.median(r["load_cpu_share"] for r in rounds),
    }


def _report(
    results: dict[str, dict[str, Any]],
    levels: list[int],
    model: str,
    load_start: Any,
    elapsed_s: float,
    logged_files: int,
) -> None:
    load_end = os.getloadavg()
    print(
        f"\n## serve-api benchmark (breast_cancer, {model}, {os.cpu_count()} CPUs; load average "
        f"{load_start[0]:.1f}/{load_start[1]:.1f}/{load_start[2]:.1f} at start, "
        f"{load_end[0]:.1f}/{load_end[1]:.1f}/{load_end[2]:.1f} at end; {elapsed_s:.0f} s)\n"
    )
    print("| server | clients | p50 ms | p99 ms | req/s |")
    print("|---|---:|---:|---:|---:|")
    for name, result in results.items():
        for clients, level in sorted(result["levels"].items()):
            cells = f"{level['p50_ms']:.2f} | {level['p99_ms']:.2f} | {level['throughput']:.0f}"
            print(f"| {name} | {clients} | {cells} |")
    print(f"\n| server | time to ready (s) | {BATCH_ROWS} rows p50 (ms) |\n|---|---:|---:|")
    for name, result in results.items():
        ready = f"{result['ready_s']:.2f}" if "ready_s" in result else "-"
        rows = f"{result['batch']['p50_ms']:.1f}" if "batch" in result else "-"
        print(f"| {name} | {ready} | {rows} |")
    print(f"\n(prediction log: {logged_files} Parquet files written by mmp-log)")
    mmp, w2, floor, log = results["mmp"], results["mmp-w2"], results["floor"], results["mmp-log"]

    def level(result: dict[str, Any], clients: int, measure: str) -> float:
        return float(result["levels"][clients][measure])

    rows: list[tuple[str, float, str, float | None]] = [
        ("1 client p50, mmp / floor", level(mmp, 1, "p50_ms") / level(floor, 1, "p50_ms"), "<=", 1.1),
        ("1 client p50, 2 workers / 1 worker", level(w2, 1, "p50_ms") / level(mmp, 1, "p50_ms"), "<=", 1.0),
    ]
    if 8 in levels:
        rows.append(
            ("8 clients req/s, 2 workers / 1 worker",
             level(w2, 8, "throughput") / level(mmp, 8, "throughput"), ">", 1.0)
        )  # fmt: skip
    rows += [
        ("32 clients req/s, 2 workers / 1 worker",
         level(w2, 32, "throughput") / level(mmp, 32, "throughput"), ">=", 1.7),
        (f"{BATCH_ROWS}-row request p50, mmp / floor",
         mmp["batch"]["p50_ms"] / floor["batch"]["p50_ms"], "<=", 1.2),
        ("start -> /ready, mmp / floor", mmp["ready_s"] / floor["ready_s"], "<=", 1.5),
        ("1 client p50, prediction log on / off",
         level(log, 1, "p50_ms") / level(mmp, 1, "p50_ms"), "<=", 1.1),
        ("32 clients p50, prediction log on / off",
         level(log, 32, "p50_ms") / level(mmp, 32, "p50_ms"), "<=", 1.1),
        ("32 clients req/s, prediction log off / on",
         level(mmp, 32, "throughput") / level(log, 32, "throughput"), "<=", None),
        ("32 clients req/s, mmp / floor", level(mmp, 32, "throughput") / level(floor, 32, "throughput"),
         ">=", None),
    ]  # fmt: skip
    if "mlflow" in results:
        mlflow = results["mlflow"]
        rows.append(
            ("32 clients req/s, mmp / mlflow models serve",
             level(mmp, 32, "throughput") / level(mlflow, 32, "throughput"), ">=", None)
        )  # fmt: skip
        rows.append(
            (f"{BATCH_ROWS}-row request p50, mmp / mlflow models serve",
             mmp["batch"]["p50_ms"] / mlflow["batch"]["p50_ms"], "<=", None)
        )  # fmt: skip
    print("\n| ratio | measured | target | met |\n|---|---:|---:|---|")
    for label, value, op, target in rows:
        if target is None:
            print(f"| {label} | {value:.2f} | | |")
            continue
        met = {"<=": value <= target, ">=": value >= target, ">": value > target}[op]
        print(f"| {label} | {value:.2f} | {op} {target} | {'yes' if met else 'NO'} |")


if __name__ == "__main__":
    main()
