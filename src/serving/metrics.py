"""Prometheus metrics for a millisecond model: latency from 0.5 ms, per route, status, model and version.

Each app owns its registry (two apps in one process never clash). With several workers the CLI
points PROMETHEUS_MULTIPROC_DIR at a fresh folder, every worker writes its values there, and
`/metrics` on any worker reports the sum over all of them (the model-info gauge keeps a `pid`
label so you can see which worker serves which version).

Latency bucket edges come from the serving settings (`serving.latency_buckets_s`); the defaults sit
exactly on the usual targets (100 ms, 200 ms) so SLO ratios need no interpolation. When the server
runs under a cgroup memory limit (a container), `/metrics` also reports the container's memory use
and limit, read at scrape time.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mmp.core.latency import (
    DEFAULT_LATENCY_BUCKETS_S,
    MEMORY_LIMIT,
    MEMORY_USED,
    MODEL_NAME_LABEL,
    MODEL_VERSION_LABEL,
    REQUEST_DURATION,
)

LATENCY_BUCKETS = DEFAULT_LATENCY_BUCKETS_S
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class ServingMetrics:
    """Every metric the server exports."""

    def __init__(self, latency_buckets: Sequence[float] = LATENCY_BUCKETS) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Histogram(
            REQUEST_DURATION,
            "Time from request start to response end, by route, method, status, model name and version.",
            ["route", "method", "status", MODEL_NAME_LABEL, MODEL_VERSION_LABEL],
            buckets=tuple(latency_buckets),
            registry=r,
        )
        self.inference = Histogram(
            "mmp_inference_duration_seconds",
            "Time inside the pipeline call, by model name, version and call kind (single, micro_batch, "
            "batch).",
            [MODEL_NAME_LABEL, MODEL_VERSION_LABEL, "kind"],
            buckets=tuple(latency_buckets),
            registry=r,
        )
        self.batch_size = Histogram(
            "mmp_inference_batch_size",
            "Records per pipeline call (micro-batching groups concurrent single requests).",
            ["kind"],
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.predictions = Counter(
            "mmp_predictions",
            "Records scored, by model version and predicted class (empty for regression).",
            ["model_version", "predicted_class"],
            registry=r,
        )
        self.validation_failures = Counter(
            "mmp_validation_failures",
            "Request fields rejected by the contract, by column ('(unknown)' for columns not in it).",
            ["field"],
            registry=r,
        )
        self.model_events = Counter(
            "mmp_model_events",
            "Model load events: load, load_failed, reload, reload_failed.",
            ["event", "model_version"],
            registry=r,
        )
        self.model_info = Gauge(
            "mmp_model_info",
            "1 for the model version this worker serves.",
            ["name", "version", "run_id"],
            registry=r,
            multiprocess_mode="all",
        )
        # Container-wide values: whichever worker answers /metrics reads them, the newest wins.
        self.memory_used = Gauge(
            MEMORY_USED,
            "Memory used by the server's container (cgroup), bytes; only under a memory limit.",
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self.memory_limit = Gauge(
            MEMORY_LIMIT,
            "Memory limit of the server's container (cgroup), bytes; absent without a limit.",
            registry=r,
            multiprocess_mode="mostrecent",
        )
        # --- prediction log (serving.prediction_log; mmp.monitoring) ---
        self.prediction_log_written = Counter(
            "mmp_prediction_log_records",
            "Records written to the prediction log.",
            registry=r,
        )
        self.prediction_log_dropped = Counter(
            "mmp_prediction_log_dropped",
            "Records the prediction log dropped (its queue was full, or a write failed); the requests "
            "themselves were answered.",
            registry=r,
        )

    def render(self) -> tuple[bytes, str]:
        """The exposition text for `/metrics` (summed over workers in multiprocess mode)."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

        memory = container_memory()
        if memory is not None:
            self.memory_used.set(memory[0])
            self.memory_limit.set(memory[1])
        if os.environ.get(MULTIPROC_ENV):
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def count_predictions(self, version: str, results: list[dict[str, Any]], classifier: bool) -> None:
        if not classifier:
            self.predictions.labels(version, "").inc(len(results))
            return
        counts: dict[str, int] = {}
        for item in results:
            key = str(item["prediction"])
            counts[key] = counts.get(key, 0) + 1
        for key, n in counts.items():
            self.predictions.labels(version, key).inc(n)


CGROUP_ROOT = Path("/sys/fs/cgroup")
_NO_LIMIT_V1 = 1 << 60  # cgroup v1 reports "no limit" as a huge page-aligned number


def container_memory(root: Path = CGROUP_ROOT) -> tuple[int, int] | None:
    """(used, limit) bytes of this process's cgroup when it has a memory limit, else None."""
    pairs = (
        ("memory.current", "memory.max"),  # cgroup v2
        ("memory/memory.usage_in_bytes", "memory/memory.limit_in_bytes"),  # cgroup v1
    )
    for used_name, limit_name in pairs:
        try:
            used = (root / used_name).read_text().strip()
            limit = (root / limit_name).read_text().strip()
        except OSError:
            continue
        if not used.isdigit() or not limit.isdigit() or int(limit) >= _NO_LIMIT_V1:
            return None  # "max": no limit, nothing to compare against
        return int(used), int(limit)
    return None
