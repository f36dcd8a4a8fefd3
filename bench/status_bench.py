"""`mmp status` costs: scraping 20 targets every 15 s, and a 24 h history for 20 models.

Targets: CPU for one scrape round of 20 targets, as a share of one core over a 15 s interval,
under 5 %; `/api/metrics/history?hours=24` for 20 models (at the default 60 s interval) p95 under
50 ms. The fake targets run in a separate process and serve canned `/metrics` text written by the
server's own `ServingMetrics` (2 versions, 2 routes, 3 statuses each: a busy server's text), so
the CPU measured here is the status service's alone (scrape, parse, intervals, SQLite writes).

Run with `uv run python bench/status_bench.py`.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import random
import statistics
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from mmp.status.store import Store

TARGETS = 20
SCRAPE_INTERVAL_S = 15.0
ROUNDS = 20
HISTORY_CALLS = 60
COLD_ROUNDS = 20


def _canned(name: str, seed: int) -> bytes:
    from mmp.serving.metrics import ServingMetrics

    metrics = ServingMetrics()
    rng = random.Random(seed)
    for version in ("1", "2"):
        metrics.model_info.labels(name, version, f"run{version}").set(1 if version == "2" else 0)
        for route in ("/predict", "/predict/batch"):
            for status in ("200", "422", "500"):
                hist = metrics.requests.labels(route, "POST", status, name, version)
                for _ in range(200):
                    hist.observe(rng.lognormvariate(-5, 1))
    return metrics.render()[0]


def _serve_targets(ports: list[int], ready: multiprocessing.synchronize.Event) -> None:  # type: ignore[name-defined]
    texts = [_canned(f"model{i}", i) for i in range(len(ports))]

    def handler_for(text: bytes) -> type[BaseHTTPRequestHandler]:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            def log_message(self, *args: object) -> None:
                pass

        return Handler

    for port, text in zip(ports, texts, strict=True):
        server = ThreadingHTTPServer(("127.0.0.1", port), handler_for(text))
        Thread(target=server.serve_forever, daemon=True).start()
    ready.set()
    while True:
        time.sleep(3600)


def _free_ports(n: int) -> list[int]:
    import socket

    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def bench_scrape(folder: Path) -> dict[str, float]:
    import httpx

    from mmp.status.collector import Collector
    from mmp.status.config import StatusConfig, Target
    from mmp.status.store import Store

    ports = _free_ports(TARGETS)
    ready = multiprocessing.Event()
    server = multiprocessing.Process(target=_serve_targets, args=(ports, ready), daemon=True)
    server.start()
    ready.wait(60)
    config = StatusConfig(
        targets=[Target(name=f"model{i}", url=f"http://127.0.0.1:{p}") for i, p in enumerate(ports)],
        interval_s=SCRAPE_INTERVAL_S,
    )
    collector = Collector(config, Store(f"sqlite:///{folder / 'scrape.db'}"))
    size = len(httpx.get(f"http://127.0.0.1:{ports[0]}/metrics").content)

    async def rounds() -> list[float]:
        cpu = []
        async with httpx.AsyncClient() as client:
            await collector.collect(client, 0.0)  # warm: imports, connections, first snapshots
            for i in range(1, ROUNDS + 1):
                started = time.process_time()
                await collector.collect(client, i * SCRAPE_INTERVAL_S)
                cpu.append(time.process_time() - started)
        return cpu

    try:
        cpu = asyncio.run(rounds())
    finally:
        server.terminate()
    per_round = statistics.median(cpu)
    return {
        "metrics_text_bytes": size,
        "cpu_per_round_ms": per_round * 1000,
        "cpu_share_of_core": per_round / SCRAPE_INTERVAL_S,
        "max_round_ms": max(cpu) * 1000,
    }


def bench_history(folder: Path) -> dict[str, float]:
    from fastapi.testclient import TestClient

    from mmp.status.app import create_app
    from mmp.status.config import StatusConfig, Target
    from mmp.status.store import Store, dump_buckets, samples, scrapes

    interval = 60.0
    now = time.time()
    start = now - 24 * 3600
    store = Store(f"sqlite:///{folder / 'history.db'}")
    edges = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, float("inf"))
    rng = random.Random(0)
    sample_rows, scrape_rows = [], []
    for m in range(TARGETS):
        for k in range(int(24 * 3600 / interval)):
            ts = start + k * interval
            counts = [rng.randint(0, 50) for _ in edges]
            common = {"target": f"model{m}", "slot": int(ts / interval), "ts": ts}
            sample_rows.append(
                {
                    **common,
                    "model_name": f"model{m}",
                    "model_version": "1" if k < 700 else "2",
                    "interval_s": interval,
                    "requests": float(sum(counts)),
                    "errors": 0.0,
                    "p50_ms": rng.uniform(5, 50),
                    "p95_ms": rng.uniform(50, 150),
                    "p99_ms": rng.uniform(100, 300),
                    "buckets": dump_buckets(edges, counts),
                }
            )
            scrape_rows.append({**common, "up": True, "model_name": f"model{m}", "model_version": "1"})
    with store.engine.begin() as conn:
        conn.execute(samples.insert(), sample_rows)
        conn.execute(scrapes.insert(), scrape_rows)
    config = StatusConfig(
        targets=[Target(name=f"model{i}", url="http://127.0.0.1:9") for i in range(TARGETS)],
        interval_s=interval,
    )
    results: dict[str, float] = {"history_rows": len(sample_rows)}
    tick = [now]
    per_model = int(24 * 3600 / interval)

    def collect_round() -> None:
        """What a collection adds: one new interval row and one scrape row per model."""
        tick[0] += interval
        ts = tick[0]
        with store.engine.begin() as conn:
            conn.execute(
                samples.insert(),
                [
                    {**row, "slot": int(ts / interval), "ts": ts}
                    for row in sample_rows[per_model - 1 :: per_model]
                ],
            )
            conn.execute(
                scrapes.insert(),
                [
                    {**row, "slot": int(ts / interval), "ts": ts}
                    for row in scrape_rows[per_model - 1 :: per_model]
                ],
            )

    def timed(call: Callable[[], object]) -> float:
        started = time.perf_counter()
        call()
        return time.perf_counter() - started

    with TestClient(create_app(config, store, clock=lambda: tick[0], collect=False)) as client:
        url_all = "/api/metrics/history?hours=24"

        def get(url: str) -> None:
            assert client.get(url).status_code == 200

        views_cache = client.app.state.views  # type: ignore[attr-defined]
        first = []
        for _ in range(3):  # a fresh process: the rollup is built from the whole window
            views_cache.clear()
            first.append(timed(lambda: get(url_all)))
        results["history_24h_all_first_call_ms"] = statistics.median(first) * 1000
        for label, url in (
            ("history_24h_all", url_all),
            ("history_24h_one", "/api/metrics/history?hours=24&model_name=model3"),
            ("metrics", "/api/metrics"),
            ("page", "/"),
        ):
            client.get(url)
            times = sorted(timed(lambda url=url: get(url)) for _ in range(HISTORY_CALLS))  # type: ignore[misc]
            results[f"{label}_p50_ms"] = statistics.median(times) * 1000
            results[f"{label}_p95_ms"] = times[int(0.95 * len(times)) - 1] * 1000
        results["history_24h_all_points"] = client.get(url_all).json()["count"]
        # the first call after each collection (the realistic cold path: a page refreshing once a tick),
        # interleaved with the baseline: the same answer recomputed from the database and serialised
        after, baseline = [], []
        for _ in range(COLD_ROUNDS):
            collect_round()
            after.append(timed(lambda: get(url_all)))
            baseline.append(timed(lambda: _recomputed(store, tick[0], views_cache.step_for(24))))
        after.sort()
        baseline.sort()
        results["history_24h_all_after_collection_p50_ms"] = statistics.median(after) * 1000
        results["history_24h_all_after_collection_p95_ms"] = after[int(0.95 * len(after)) - 1] * 1000
        results["baseline_recomputed_p50_ms"] = statistics.median(baseline) * 1000
        results["baseline_recomputed_p95_ms"] = baseline[int(0.95 * len(baseline)) - 1] * 1000
        # every call of a page refreshing once per collection is a first call after a collection
        mixed = sorted(after + [timed(lambda: get(url_all)) for _ in range(len(after))])
        results["history_24h_all_mixed_p95_ms"] = mixed[int(0.95 * len(mixed)) - 1] * 1000
    return results


def _recomputed(store: Store, now: float, step: float) -> bytes:
    """The baseline: the whole 24 h read, grouped and serialised again on every call."""
    from mmp.status.rollup import Rollup

    rollup = Rollup(24, step, late_s=0.0)
    rollup.refresh(store, now)
    return rollup.body(None, None)


def main() -> None:
    import compileall

    compileall.compile_dir(str(Path(__file__).resolve().parents[1] / "src"), quiet=1)
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        scrape = bench_scrape(folder)
        history = bench_history(folder)
    end_load = os.getloadavg()
    print(
        json.dumps({"loadavg": load, "loadavg_end": end_load, "scrape": scrape, "history": history}, indent=2)
    )
    print(
        f"\nscrape {TARGETS} targets every {SCRAPE_INTERVAL_S:g}s: "
        f"{100 * scrape['cpu_share_of_core']:.2f}% of one core "
        f"(target < 5%, ratio {scrape['cpu_share_of_core'] / 0.05:.2f} of budget)"
    )
    cold_p95 = history["history_24h_all_after_collection_p95_ms"]
    print(
        f"24 h history, {TARGETS} models ({history['history_24h_all_points']:.0f} points): "
        f"p95 {history['history_24h_all_p95_ms']:.1f} ms between collections; first call after a "
        f"collection p95 {cold_p95:.1f} ms (target < 50 ms, ratio {cold_p95 / 50:.2f} of budget); "
        f"{history['baseline_recomputed_p95_ms'] / cold_p95:.1f}x faster than recomputing it per call "
        f"(baseline p95 {history['baseline_recomputed_p95_ms']:.1f} ms); first call of a fresh process "
        f"{history['history_24h_all_first_call_ms']:.0f} ms"
    )
    print(
        f"load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, at end "
        f"{end_load[0]:.2f} {end_load[1]:.2f} {end_load[2]:.2f} ({os.cpu_count()} cores)"
    )


if __name__ == "__main__":
    main()
