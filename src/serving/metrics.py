"""Prometheus metrics for a millisecond model: latency from 0.5 ms, per route, status and version.

Each app owns its registry (two apps in one process never clash). With several workers the CLI
points PROMETHEUS_MULTIPROC_DIR at a fresh folder, every worker writes its values there, and
`/metrics` on any worker reports the sum over all of them (the model-info gauge keeps a `pid`
label so you can see which worker serves which version).
"""

from __future__ import annotations

import os
from typing import Any

# Fine enough for a 1 ms model, wide enough for a slow batch.
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.075,
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class ServingMetrics:
    """Every metric the server exports."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Histogram(
            "mmp_request_duration_seconds",
            "Time from request start to response end, by route, method, status and model version.",
            ["route", "method", "status", "model_version"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.inference = Histogram(
            "mmp_inference_duration_seconds",
            "Time inside the pipeline call, by model version and call kind (single, micro_batch, batch).",
            ["model_version", "kind"],
            buckets=LATENCY_BUCKETS,
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

    def render(self) -> tuple[bytes, str]:
        """The exposition text for `/metrics` (summed over workers in multiprocess mode)."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

        if os.environ.get(MULTIPROC_ENV):
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
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
