"""One scrape: GET a server's `/metrics` and keep what a status page needs from it.

The text is parsed with `prometheus_client.parser`; everything else in it is ignored. Latency is
the request histogram of the scoring routes only (scrapes, health checks and docs would flatter
it), summed over methods and statuses, per model name and version.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from mmp.core.latency import (
    MEMORY_LIMIT,
    MEMORY_USED,
    MODEL_EVENTS,
    MODEL_INFO,
    MODEL_NAME_LABEL,
    MODEL_VERSION_LABEL,
    REQUEST_DURATION,
    SCORING_ROUTES,
)

SeriesKey = tuple[str, str]  # (model name, model version)


class ScrapeError(Exception):
    """A scrape that gave no usable metrics; the message says why in one line."""


@dataclass
class Series:
    """Cumulative counts for one model version since its server started."""

    edges: tuple[float, ...] = ()
    buckets: dict[float, float] = field(default_factory=dict)  # upper edge (inf last) -> cumulative
    count: float = 0.0
    errors: float = 0.0  # 5xx answers


@dataclass
class Snapshot:
    """What one target reported at one scrape."""

    at: float
    model_name: str = ""
    version: str = ""
    series: dict[SeriesKey, Series] = field(default_factory=dict)
    reload_failures: float = 0.0
    memory_used: float | None = None
    memory_limit: float | None = None


def parse_metrics(text: str, at: float | None = None) -> Snapshot:
    """Parse exposition text; ScrapeError when it is not metrics text or not from an mmp server."""
    from prometheus_client.parser import text_string_to_metric_families

    snapshot = Snapshot(at=time.time() if at is None else at)
    served: dict[tuple[str, str], int] = {}
    seen_mmp = False
    try:
        for family in text_string_to_metric_families(text):
            seen_mmp = seen_mmp or family.name.startswith("mmp_")
            if family.name == MODEL_INFO:
                for sample in family.samples:
                    if sample.value == 1:
                        key = (sample.labels.get("name", ""), _version(sample.labels))
                        served[key] = served.get(key, 0) + 1
            elif family.name == REQUEST_DURATION:
                _add_requests(snapshot, family.samples)
            elif family.name == MODEL_EVENTS:
                snapshot.reload_failures += sum(
                    s.value
                    for s in family.samples
                    if s.name.endswith("_total") and s.labels.get("event") == "reload_failed"
                )
            elif family.name == MEMORY_USED and family.samples and family.samples[0].value > 0:
                snapshot.memory_used = family.samples[0].value
            elif family.name == MEMORY_LIMIT and family.samples and family.samples[0].value > 0:
                snapshot.memory_limit = family.samples[0].value  # 0: the server has no limit to report
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise ScrapeError(f"malformed metrics text: {_first_line(exc)}") from None
    if not seen_mmp:
        raise ScrapeError("not an mmp model server: /metrics has no mmp_ metrics")
    if served:  # none while the model loads; during a reload, the version most workers serve
        (snapshot.model_name, snapshot.version), _ = max(served.items(), key=lambda kv: (kv[1], kv[0]))
    for series in snapshot.series.values():
        series.edges = tuple(sorted(series.buckets))
    return snapshot


def _version(labels: dict[str, str]) -> str:
    """The server's version label: the registry version, else the run id's first 12 characters."""
    run_id = labels.get("run_id", "")
    return labels.get("version") or (run_id[:12] if run_id else "local")


def _add_requests(snapshot: Snapshot, samples: list[Any]) -> None:
    for sample in samples:
        labels = sample.labels
        if labels.get("route") not in SCORING_ROUTES:
            continue
        key = (labels.get(MODEL_NAME_LABEL, ""), labels.get(MODEL_VERSION_LABEL, ""))
        series = snapshot.series.setdefault(key, Series())
        if sample.name.endswith("_bucket"):
            edge = float(labels["le"])
            series.buckets[edge] = series.buckets.get(edge, 0.0) + sample.value
        elif sample.name.endswith("_count"):
            series.count += sample.value
            if labels.get("status", "").startswith("5"):
                series.errors += sample.value


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


async def scrape(client: Any, url: str, api_key: str | None, timeout_s: float) -> Snapshot:
    """GET `{url}/metrics` with httpx; ScrapeError with a one-line reason on any failure."""
    import httpx

    headers = {"X-API-Key": api_key} if api_key else {}
    try:
        response = await client.get(f"{url}/metrics", headers=headers, timeout=timeout_s)
    except httpx.TimeoutException:
        raise ScrapeError(f"no answer within {timeout_s:g}s") from None
    except httpx.HTTPError as exc:
        raise ScrapeError(f"unreachable: {type(exc).__name__}") from None
    if response.status_code in (401, 403):
        raise ScrapeError(f"HTTP {response.status_code}: check the target's api_key_env")
    if response.status_code != 200:
        raise ScrapeError(f"HTTP {response.status_code} from /metrics: not an mmp model server?")
    return parse_metrics(response.text)
