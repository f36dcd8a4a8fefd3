"""A history chart kept in memory and brought up to date after each collection, not recomputed.

A 24 h history of 20 models at a 60 s interval is ~29,000 interval rows; grouping them in the
database takes 100-300 ms, far over the page's 50 ms budget, and the answer changes only at the
edge: each collection adds one row per model and version, all in the newest step. So a rollup
keeps every step's point (and its JSON text) and, when the data moved on, asks the database only
for the steps that can have changed: those from a little before the newest row it has seen (rows
of the same tick written late by another replica still land there), and drops the steps that fell
out of the window.

Windows start on a step boundary, so every step is whole (a window is up to one step longer than
asked): a point never changes because the window's start moved into the middle of its step.
"""

from __future__ import annotations

import json
import math
from bisect import bisect_left
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from mmp.status.store import HistoryPoint, Store


@lru_cache(maxsize=8192)
def iso_time(ts: float) -> str:
    """ISO-8601 UTC, cached: every model of a tick shares its timestamp."""
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def point_json(p: HistoryPoint, step_s: float) -> dict[str, Any]:
    return {
        "model_name": p.target,
        "model_version": p.model_version,
        "timestamp": iso_time(p.ts),
        "p50_ms": p.p50_ms,
        "p95_ms": p.p95_ms,
        "p99_ms": p.p99_ms,
        "requests": p.requests,
        "request_rate": round(p.requests / p.span_s, 3) if p.span_s else 0.0,
        "error_rate": round(p.errors / p.requests, 4) if p.requests else None,
        "step_s": step_s,
    }


def _worst(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


@dataclass
class _Series:
    """One model's points ordered by (step, version), with each point's JSON text beside it."""

    steps: list[int] = field(default_factory=list)
    points: list[HistoryPoint] = field(default_factory=list)
    texts: list[bytes] = field(default_factory=list)

    def keep(self, first: int, end: int) -> None:
        """Drop the steps before `first` and from `end` on."""
        lo, hi = bisect_left(self.steps, first), bisect_left(self.steps, end)
        for column in (self.steps, self.points, self.texts):
            del column[hi:]
            del column[:lo]


class Rollup:
    """One history query (`hours` back, `step_s` per point, every model), kept current."""

    def __init__(self, hours: float, step_s: float, late_s: float) -> None:
        self.hours = hours
        self.step_s = step_s
        self.late_s = late_s  # how long after its tick a row may still be written
        self._series: dict[str, _Series] = {}
        self._newest: float | None = None  # the newest row's time seen so far

    def window_start(self, now: float) -> float:
        return math.floor((now - self.hours * 3600) / self.step_s) * self.step_s

    def refresh(self, store: Store, now: float) -> None:
        """Bring the rollup to what the database holds now (one small query once it is built)."""
        start = self.window_start(now)
        if self._newest is None or self._newest < start:
            self._series.clear()
            since = start
        else:
            since = max(start, math.floor((self._newest - self.late_s) / self.step_s) * self.step_s)
        first_kept, first_fetched = round(start / self.step_s), round(since / self.step_s)
        for series in self._series.values():
            series.keep(first_kept, first_fetched)
        fetched: dict[tuple[str, int, str], HistoryPoint] = {}
        for row in store.interval_rows(since):
            key = (row.target, math.floor(row.ts / self.step_s), row.model_version)
            p = fetched.get(key)
            if p is None:
                fetched[key] = HistoryPoint(*row)
            else:
                p.ts = max(p.ts, row.ts)
                p.requests += row.requests
                p.errors += row.errors
                p.p50_ms = _worst(p.p50_ms, row.p50_ms)
                p.p95_ms = _worst(p.p95_ms, row.p95_ms)
                p.p99_ms = _worst(p.p99_ms, row.p99_ms)
                p.span_s += row.interval_s
        for (target, step, _version), p in sorted(fetched.items()):
            series = self._series.setdefault(target, _Series())
            series.steps.append(step)
            series.points.append(p)
            text = json.dumps(point_json(p, self.step_s), allow_nan=False, separators=(",", ":"))
            series.texts.append(text.encode())
            if self._newest is None or p.ts > self._newest:
                self._newest = p.ts

    def _selected(self, name: str | None) -> list[_Series]:
        if name is not None:
            return [self._series[name]] if name in self._series else []
        return [self._series[target] for target in sorted(self._series)]

    def points(self, name: str | None) -> list[HistoryPoint]:
        """Points of one model (or all), ordered by model, then time, then version."""
        return [p for series in self._selected(name) for p in series.points]

    def body(self, name: str | None, last_updated: str | None) -> bytes:
        """The API's whole answer (`status`, `data`, `count`, `last_updated`) as JSON bytes."""
        chosen = [series for series in self._selected(name) if series.texts]
        return b"".join(
            (
                b'{"status":"success","data":[',
                b",".join(b",".join(series.texts) for series in chosen),
                b'],"count":',
                str(sum(len(series.texts) for series in chosen)).encode(),
                b',"last_updated":',
                json.dumps(last_updated).encode(),
                b"}",
            )
        )
