"""From two scrapes to one interval: requests, errors and latency percentiles per model version.

Counters only grow while a server lives; a count that went down means the server restarted, and
then (as Prometheus' `rate()` does) the new value is the whole increase. Percentiles are read from
the bucket deltas the way `histogram_quantile` does: linear inside the bucket that holds the rank,
so they are exact to within one bucket, and exact at the edges (100 ms, 200 ms by default).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from mmp.status.scrape import Series, SeriesKey, Snapshot

INF = float("inf")


@dataclass(frozen=True)
class Interval:
    """One model version over one interval. `counts` are per-bucket (not cumulative) increases."""

    model_name: str
    version: str
    requests: float
    errors: float
    edges: tuple[float, ...]
    counts: tuple[float, ...]

    def percentile_ms(self, q: float) -> float | None:
        return percentile_ms(self.edges, self.counts, q)


def intervals_between(previous: Snapshot | None, current: Snapshot) -> list[Interval]:
    """Every model version with traffic between two snapshots of one target."""
    if previous is None:
        return []
    found = []
    for key, now in current.series.items():
        before = previous.series.get(key)
        found.append(_delta(key, before, now))
    return [i for i in found if i.requests > 0]


def _delta(key: SeriesKey, before: Series | None, now: Series) -> Interval:
    restarted = before is None or now.count < before.count or before.edges != now.edges
    base = Series() if restarted or before is None else before
    cumulative = [now.buckets[e] - base.buckets.get(e, 0.0) for e in now.edges]
    counts = [max(0.0, c - p) for p, c in zip([0.0, *cumulative[:-1]], cumulative, strict=True)]
    return Interval(
        model_name=key[0],
        version=key[1],
        requests=max(0.0, now.count - base.count),
        errors=max(0.0, now.errors - base.errors),
        edges=now.edges,
        counts=tuple(counts),
    )


def percentile_ms(edges: Sequence[float], counts: Sequence[float], q: float) -> float | None:
    """The q-quantile in milliseconds from per-bucket counts; None without observations."""
    total = sum(counts)
    if total <= 0:
        return None
    rank = q * total
    seen = 0.0
    lower = 0.0
    for edge, count in zip(edges, counts, strict=True):
        if count > 0 and seen + count >= rank:
            if edge == INF:  # beyond the last edge: the last edge is all we know
                return round(lower * 1000, 3)
            return round((lower + (edge - lower) * (rank - seen) / count) * 1000, 3)
        seen += count
        if edge != INF:
            lower = edge
    return round(lower * 1000, 3)


def merge(parts: Iterable[tuple[Sequence[float], Sequence[float]]]) -> tuple[tuple[float, ...], list[float]]:
    """Add bucket counts of several intervals (or versions). Edges differ only when a server was
    reconfigured; counts are then placed at their own upper edges in the union of edges."""
    totals: dict[float, float] = {}
    for edges, counts in parts:
        for edge, count in zip(edges, counts, strict=True):
            totals[float(edge)] = totals.get(float(edge), 0.0) + count
    ordered = tuple(sorted(totals))
    return ordered, [totals[e] for e in ordered]
