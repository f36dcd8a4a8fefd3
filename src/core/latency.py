"""The latency contract between the model server and whoever watches it.

The server (`mmp.serving.metrics`) writes these metric and label names; the status service
(`mmp.status`) and the Prometheus rules of generated projects read them. Keeping them in one module
means a renamed label cannot silently empty a status page.

The default bucket edges include the default latency targets (100 ms good, 200 ms warning) exactly,
so "share of requests under 100 ms" is a count, not an interpolation inside a bucket.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

# Fine enough for a 1 ms model, exact at the usual targets, wide enough for a slow batch.
DEFAULT_LATENCY_BUCKETS_S: tuple[float, ...] = (
    0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.075,
    0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip

GOOD_MS = 100.0
WARNING_MS = 200.0

REQUEST_DURATION = "mmp_request_duration_seconds"
MODEL_INFO = "mmp_model_info"
MODEL_EVENTS = "mmp_model_events"
MEMORY_USED = "mmp_memory_used_bytes"
MEMORY_LIMIT = "mmp_memory_limit_bytes"

MODEL_NAME_LABEL = "model_name"
MODEL_VERSION_LABEL = "model_version"

# Requests that score: their latency is the one a latency target is about.
SCORING_ROUTES = ("/predict", "/predict/batch")


def check_buckets(edges: Sequence[float]) -> tuple[float, ...]:
    """Bucket edges as Prometheus needs them: positive, finite, strictly increasing."""
    values = tuple(float(e) for e in edges)
    if not values:
        raise ValueError("give at least one bucket edge")
    if any(not (0 < v < float("inf")) for v in values):
        raise ValueError("bucket edges must be positive, finite seconds")
    if any(b <= a for a, b in itertools.pairwise(values)):
        raise ValueError("bucket edges must be strictly increasing")
    return values
