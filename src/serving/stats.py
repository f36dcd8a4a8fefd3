"""Latency percentiles and request counts over the last minutes, for `GET /stats`.

Status pages that do not run Prometheus still want "p99 over the last 5 minutes". Each request adds
one count to a log-spaced latency bucket (about 4% wide) in a 5-second slot; a slot older than the
longest window is dropped. Memory is bounded whatever the traffic, recording is O(1), and a
percentile is exact to within one bucket.

With several workers, each one publishes its slots to a shared folder about once a second
(`SharedStats`), and the worker that answers `/stats` merges every worker's slots: the counts add
up exactly because the buckets are the same everywhere. Readiness probes answered 503 while the
model loads are not requests that failed, so they are not recorded.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SLOT_S = 5.0
WINDOWS_MIN = (1, 5, 15)
_MIN_S = 1e-5  # 10 µs: the first bucket's upper edge
_GROWTH = 1.04
_LOG_GROWTH = math.log(_GROWTH)
_MAX_BUCKET = 600  # 10 µs * 1.04**600 ≈ 170 000 s


def _bucket(seconds: float) -> int:
    if seconds <= _MIN_S:
        return 0
    return min(_MAX_BUCKET, 1 + int(math.log(seconds / _MIN_S) / _LOG_GROWTH))


def _bucket_value(index: int) -> float:
    """A representative latency for a bucket: the geometric middle of its edges."""
    if index == 0:
        return _MIN_S
    return float(_MIN_S * _GROWTH ** (index - 0.5))


@dataclass
class _Slot:
    start: float
    latency: dict[str, Counter[int]] = field(default_factory=dict)  # route -> bucket -> count
    statuses: dict[str, Counter[int]] = field(default_factory=dict)  # route -> status -> count


class RollingStats:
    """Thread-safe rolling request statistics for one worker process."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self._slots: deque[_Slot] = deque()
        self._lock = threading.Lock()
        self.started = clock()
        self.changes = 0

    def record(self, route: str, status: int, seconds: float) -> None:
        if route == "/ready" and status == 503:  # "still loading" is the probe's answer, not a failure
            return
        now = self._clock()
        self.changes += 1
        with self._lock:
            slot = self._current(now)
            slot.latency.setdefault(route, Counter())[_bucket(seconds)] += 1
            slot.statuses.setdefault(route, Counter())[status] += 1

    def _current(self, now: float) -> _Slot:
        start = now - (now % SLOT_S)
        if not self._slots or self._slots[-1].start != start:
            self._slots.append(_Slot(start))
        horizon = now - max(WINDOWS_MIN) * 60 - SLOT_S
        while self._slots and self._slots[0].start < horizon:
            self._slots.popleft()
        return self._slots[-1]

    def export(self) -> list[list[Any]]:
        """This process's slots as JSON-ready data, for the other workers to merge."""
        with self._lock:
            return [
                [
                    s.start,
                    {r: {str(b): n for b, n in c.items()} for r, c in s.latency.items()},
                    {r: {str(k): n for k, n in c.items()} for r, c in s.statuses.items()},
                ]
                for s in self._slots
            ]

    def snapshot(self, peers: Iterable[list[list[Any]]] = ()) -> dict[str, Any]:
        """Per window: requests, errors, rate, and latency p50/p95/p99 in ms, overall and per route,
        over this process's slots and the exported slots of `peers` (other workers)."""
        now = self._clock()
        with self._lock:
            slots = list(self._slots)
        for exported in peers:
            slots.extend(_imported(exported))
        uptime = now - self.started
        windows: dict[str, Any] = {}
        for minutes in WINDOWS_MIN:
            since = now - minutes * 60
            chosen = [s for s in slots if s.start + SLOT_S > since]
            span = max(min(minutes * 60.0, uptime), 1e-9)
            windows[f"{minutes}m"] = _summarise(chosen, span)
        return {"uptime_s": round(uptime, 1), "windows": windows}


def _imported(exported: list[list[Any]]) -> list[_Slot]:
    slots = []
    for start, latency, statuses in exported:
        slot = _Slot(float(start))
        slot.latency = {r: Counter({int(b): int(n) for b, n in c.items()}) for r, c in latency.items()}
        slot.statuses = {r: Counter({int(k): int(n) for k, n in c.items()}) for r, c in statuses.items()}
        slots.append(slot)
    return slots


class SharedStats:
    """Every worker's statistics through a folder: each writes `<pid>.json` when it has news (at
    most every `interval_s`), and `snapshot` reads the others' files beside its own live slots."""

    def __init__(self, stats: RollingStats, folder: Path, interval_s: float = 1.0) -> None:
        self.stats = stats
        self.folder = folder
        self.interval_s = interval_s
        self.folder.mkdir(parents=True, exist_ok=True)
        self._own = self.folder / f"{os.getpid()}.json"
        self._published = -1

    def publish(self) -> None:
        """Write this worker's slots (atomically: readers never see half a file)."""
        changes = self.stats.changes
        if changes == self._published:
            return
        staging = self._own.with_suffix(".tmp")
        staging.write_text(json.dumps(self.stats.export()), encoding="utf-8")
        staging.replace(self._own)
        self._published = changes

    async def publish_forever(self) -> None:
        import asyncio

        while True:
            await asyncio.sleep(self.interval_s)
            self.publish()

    def snapshot(self) -> dict[str, Any]:
        peers = []
        for file in sorted(self.folder.glob("*.json")):
            if file == self._own:
                continue
            with contextlib.suppress(OSError, ValueError):  # a worker gone mid-read: skip it
                peers.append(json.loads(file.read_text(encoding="utf-8")))
        return {"workers": len(peers) + 1, **self.stats.snapshot(peers)}


def _summarise(slots: list[_Slot], span_s: float) -> dict[str, Any]:
    total_latency: Counter[int] = Counter()
    total_status: Counter[int] = Counter()
    routes: dict[str, dict[str, Counter[int]]] = {}
    for slot in slots:
        for route, buckets in slot.latency.items():
            total_latency.update(buckets)
            routes.setdefault(route, {"latency": Counter(), "status": Counter()})["latency"].update(buckets)
        for route, statuses in slot.statuses.items():
            total_status.update(statuses)
            routes.setdefault(route, {"latency": Counter(), "status": Counter()})["status"].update(statuses)
    summary = _describe(total_latency, total_status, span_s)
    summary["routes"] = {
        route: _describe(parts["latency"], parts["status"], span_s) for route, parts in sorted(routes.items())
    }
    return summary


def _describe(latency: Counter[int], statuses: Counter[int], span_s: float) -> dict[str, Any]:
    count = sum(statuses.values())
    return {
        "requests": count,
        "errors_4xx": sum(n for s, n in statuses.items() if 400 <= s < 500),
        "errors_5xx": sum(n for s, n in statuses.items() if s >= 500),
        "requests_per_s": round(count / span_s, 3),
        "latency_ms": {f"p{q}": _percentile(latency, q / 100) for q in (50, 95, 99)},
    }


def _percentile(buckets: Counter[int], q: float) -> float | None:
    total = sum(buckets.values())
    if not total:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for index in sorted(buckets):
        seen += buckets[index]
        if seen >= rank:
            return round(_bucket_value(index) * 1000, 3)
    return None  # pragma: no cover - rank <= total always stops the loop
