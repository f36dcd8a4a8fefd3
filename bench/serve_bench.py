"""Serving benchmark: `mmp serve-api` vs `mlflow models serve` vs a minimal FastAPI app, same run.

Trains one example into a temporary MLflow store, then starts each server (after one untimed
start that fills the bytecode caches) and records the time until its readiness endpoint answers
200. With all three up, each load level (1, 8 and 32 concurrent clients) is driven against each
server in turn, for several interleaved rounds, from a separate load process (asyncio + httpx, one
connection per client, closed loop); the median round is reported. Prints p50/p99
latency and throughput per level and the ratios the serving issue sets as targets:

- single-client p50 of mmp within 1.3x of the minimal app,
- throughput at 32 clients at least 3x `mlflow models serve`,
- time to ready under 3 s.

Every loop is bounded in count and time; all traffic goes to 127.0.0.1.

    uv run python bench/serve_bench.py                      # breast_cancer, 3 rounds x 4 s per level
    uv run python bench/serve_bench.py --example diabetes --duration 2 --rounds 5
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
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
MAX_REQUESTS_PER_LEVEL = 200_000
PORT = "{port}"  # placeholder in server commands, replaced by a free port at each start


# ---------------------------------------------------------------- load process


async def _drive(url: str, body: bytes, clients: int, duration_s: float) -> dict[str, Any]:
    import httpx

    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + duration_s
    headers = {"content-type": "application/json"}

    async def client() -> None:
        nonlocal errors
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(limits=limits, timeout=30) as http:
            while time.perf_counter() < deadline and len(latencies) < MAX_REQUESTS_PER_LEVEL:
                started = time.perf_counter()
                try:
                    response = await http.post(url, content=body, headers=headers)
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                if ok:
                    latencies.append(time.perf_counter() - started)
                else:
                    errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
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
    args = parser.parse_args(argv)
    assert args.url.startswith("http://127.0.0.1:"), "benchmark traffic stays on this machine"
    body = Path(args.body).read_bytes()
    # a short warm-up so connection setup and first-call costs are not measured
    asyncio.run(_drive(args.url, body, args.clients, min(1.0, args.duration / 4)))
    print(json.dumps(asyncio.run(_drive(args.url, body, args.clients, args.duration))))


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
        self, name: str, command: list[str], ready_path: str, predict_path: str, body: bytes
    ) -> None:
        self.name = name
        self.command = command
        self.ready_path = ready_path
        self.predict_path = predict_path
        self.body = body
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

        response = httpx.post(
            f"http://127.0.0.1:{self.port}{self.predict_path}",
            content=self.body,
            headers={"content-type": "application/json"},
            timeout=30,
        )
        if response.status_code != 200:
            raise RuntimeError(f"{self.name} answered {response.status_code}: {response.text[:300]}")

    def load(self, clients: int, duration_s: float, workdir: Path) -> dict[str, Any]:
        body_file = workdir / f"{self.name}.json"
        body_file.write_bytes(self.body)
        command = [
            PYTHON, __file__, "load",
            "--url", f"http://127.0.0.1:{self.port}{self.predict_path}",
            "--body", str(body_file), "--clients", str(clients), "--duration", str(duration_s),
        ]  # fmt: skip
        out = subprocess.run(
            command, capture_output=True, text=True, timeout=duration_s * 3 + 120, env=_env()
        )
        if out.returncode != 0:
            raise RuntimeError(out.stderr[-2000:])
        return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _train(example: str, folder: Path) -> tuple[str, Path, str]:
    sys.path.insert(0, str(REPO))
    from mmp.pipelines.train import train
    from mmp.recipe.loader import load_config, load_recipe

    uri = f"sqlite:///{folder / 'mlruns.db'}"
    config = folder / "config.yaml"
    config.write_text(
        f"mlflow:\n  tracking_uri: {uri}\n  experiment: bench\n  artifact_location: {folder / 'artifacts'}\n",
        encoding="utf-8",
    )
    result = train(
        load_recipe(REPO / "recipes" / f"{example}.yaml"),
        load_config(config),
        str(REPO / "data" / f"{example}.csv"),
        register_as=None,
    )
    return result.run_id, config, uri


def _bodies(example: str, run_id: str, uri: str) -> tuple[bytes, bytes]:
    """(mmp and minimal-app body, mlflow body) for the same first data row."""
    import mlflow
    import pandas as pd

    from mmp.core.model_store import load_model

    mlflow.set_tracking_uri(uri)
    contract = load_model(f"runs:/{run_id}/model", uri).contract
    row = pd.read_csv(REPO / "data" / f"{example}.csv").head(1)
    record = json.loads(row[contract.request_columns].to_json(orient="records", double_precision=15))[0]
    features = {k: record[k] for k in contract.model_input_columns}
    return json.dumps(record).encode(), json.dumps({"dataframe_records": [features]}).encode()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "load":
        load_main(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--example", default="breast_cancer", choices=["breast_cancer", "diabetes"])
    parser.add_argument("--duration", type=float, default=4.0, help="seconds of load per round")
    parser.add_argument("--levels", default="1,8,32")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved repetitions per level")
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]

    with tempfile.TemporaryDirectory(prefix="mmp-serve-bench-") as tmp:
        folder = Path(tmp)
        print(f"training {args.example} into a temporary store...", flush=True)
        run_id, config, uri = _train(args.example, folder)
        mmp_body, mlflow_body = _bodies(args.example, run_id, uri)
        model_uri = f"runs:/{run_id}/model"
        servers = [
            Server(
                "mmp",
                [PYTHON, "-m", "mmp.cli.main", "serve-api", "--run-id", run_id, "--config-path", str(config),
                 "--log-level", "warning", "--port", PORT],
                "/ready", "/predict", mmp_body,
            ),
            Server(
                "minimal",
                [PYTHON, str(REPO / "bench" / "serve_minimal_app.py"), "--model-uri", model_uri,
                 "--port", PORT],
                "/ready", "/predict", mmp_body,
            ),
            Server(
                "mlflow",
                [str(Path(PYTHON).with_name("mlflow")), "models", "serve", "-m", model_uri, "--env-manager",
                 "local", "-h", "127.0.0.1", "--port", PORT],
                "/ping", "/invocations", mlflow_body,
            ),
        ]  # fmt: skip
        os.environ["MLFLOW_TRACKING_URI"] = uri  # the mlflow and minimal servers resolve runs:/ with it
        results: dict[str, dict[str, Any]] = {}
        try:
            for server in servers:
                print(f"{server.name}: priming start (fills bytecode caches)...", flush=True)
                server.start()
                server.stop()
                ready_s = server.start()
                server.check()
                results[server.name] = {"ready_s": ready_s, "levels": {}}
                print(f"  {server.name:8s} ready in {ready_s:.2f} s", flush=True)
            # All servers stay up; each level is run against each server in turn, `rounds` times,
            # so a burst of load from elsewhere on the machine hits every server alike. The median
            # round is reported.
            for clients in levels:
                rounds: dict[str, list[dict[str, Any]]] = {s.name: [] for s in servers}
                for _ in range(args.rounds):
                    for server in servers:
                        rounds[server.name].append(server.load(clients, args.duration, folder))
                for server in servers:
                    level = _median_round(rounds[server.name])
                    results[server.name]["levels"][clients] = level
                    print(
                        f"  {server.name:8s} {clients:3d} clients: p50 {level['p50_ms']:7.2f} ms  "
                        f"p99 {level['p99_ms']:7.2f} ms  {level['throughput']:8.1f} req/s  "
                        f"errors {level['errors']}",
                        flush=True,
                    )
        finally:
            for server in servers:
                server.stop()
        _report(results, levels, args.example)


def _median_round(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The round with the median throughput (its p50 and p99 come with it)."""
    ordered = sorted(rounds, key=lambda r: r["throughput"])
    return ordered[len(ordered) // 2]


def _report(results: dict[str, dict[str, Any]], levels: list[int], example: str) -> None:
    load = os.getloadavg()[0]
    print(f"\n## serve-api benchmark ({example}, {os.cpu_count()} CPUs, load avg {load:.1f})\n")
    print("| server | clients | p50 ms | p99 ms | req/s |")
    print("|---|---:|---:|---:|---:|")
    for name, result in results.items():
        for clients in levels:
            level = result["levels"][clients]
            cells = f"{level['p50_ms']:.2f} | {level['p99_ms']:.2f} | {level['throughput']:.0f}"
            print(f"| {name} | {clients} | {cells} |")
    print("\n| server | time to ready (s) |\n|---|---:|")
    for name, result in results.items():
        print(f"| {name} | {result['ready_s']:.2f} |")
    mmp, minimal, mlflow = results["mmp"], results["minimal"], results["mlflow"]
    low, high = min(levels), max(levels)
    p50_ratio = mmp["levels"][low]["p50_ms"] / minimal["levels"][low]["p50_ms"]
    tput_ratio = mmp["levels"][high]["throughput"] / mlflow["levels"][high]["throughput"]
    ready = mmp["ready_s"]
    met = {True: "yes", False: "NO"}
    print("\n| target | measured | met |\n|---|---:|---|")
    print(f"| {low}-client p50 mmp / minimal <= 1.3 | {p50_ratio:.2f} | {met[p50_ratio <= 1.3]} |")
    print(f"| {high}-client throughput mmp / mlflow >= 3 | {tput_ratio:.2f} | {met[tput_ratio >= 3]} |")
    print(f"| mmp time to ready < 3 s | {ready:.2f} | {met[ready < 3]} |")
    print(f"| time to ready, mmp / mlflow models serve | {ready / mlflow['ready_s']:.2f} | |")
    median = statistics.median(mmp["levels"][c]["p50_ms"] for c in levels)
    print(f"\nmedian p50 over levels, mmp: {median:.2f} ms")


if __name__ == "__main__":
    main()
