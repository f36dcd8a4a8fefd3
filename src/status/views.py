"""What the API and the page show, computed from the database (shared by every replica)."""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from mmp.status.config import StatusConfig
from mmp.status.intervals import merge, percentile_ms
from mmp.status.rollup import Rollup, iso_time, point_json
from mmp.status.store import Store, load_buckets

T = TypeVar("T")
MAX_POINTS = 288  # a 24 h chart at 5-minute steps
MAX_ROLLUPS = 8  # distinct (hours, step) history queries kept current


class UnknownModel(LookupError):
    pass


def iso(ts: float | None) -> str | None:
    return None if ts is None else iso_time(ts)


def envelope(data: list[dict[str, Any]], last_tick: float | None) -> dict[str, Any]:
    return {"status": "success", "data": data, "count": len(data), "last_updated": iso(last_tick)}


@dataclass
class Views:
    """Answers are cached until the next collection: the data only changes once per tick, while a
    page refreshing in many browsers asks for the same 24 h history again and again. Histories are
    rollups brought up to date after each collection (see `mmp.status.rollup`), so even the first
    answer after a collection reads only the newest rows."""

    config: StatusConfig
    store: Store
    _cache: dict[tuple[Any, ...], Any] = field(default_factory=dict)
    _cached_tick: float | None = None
    _rollups: OrderedDict[tuple[float, float], Rollup] = field(default_factory=OrderedDict)
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def clear(self) -> None:
        """Forget everything cached, rollups included (the next answers are computed from scratch)."""
        with self._lock:
            self._cache.clear()
            self._rollups.clear()

    def cached(self, key: tuple[Any, ...], compute: Callable[[], T]) -> T:
        tick = self.store.last_tick()
        with self._lock:  # handlers run in a thread pool; one computes, the others wait for it
            if tick != self._cached_tick or len(self._cache) > 256:
                self._cache, self._cached_tick = {}, tick
            if key not in self._cache:
                self._cache[key] = compute()
            return cast(T, self._cache[key])

    def rollup(self, hours: float, step: float, now: float) -> Rollup:
        """The rollup for this query, refreshed; called under the lock (from `cached`)."""
        key = (hours, step)
        rollup = self._rollups.pop(key, None)
        if rollup is None:
            late = 2 * self.config.interval_s + self.config.scrape_timeout_s
            rollup = Rollup(hours, step, late)
        self._rollups[key] = rollup
        while len(self._rollups) > MAX_ROLLUPS:
            self._rollups.popitem(last=False)
        rollup.refresh(self.store, now)
        return rollup

    def _refreshed(self, hours: float, step: float, now: float) -> Rollup:
        return self.cached(("rollup", hours, step), lambda: self.rollup(hours, step, now))

    def names(self) -> list[str]:
        return [t.name for t in self.config.targets]

    def check_name(self, name: str | None) -> None:
        if name is not None and name not in self.names():
            known = ", ".join(self.names()) or "(none)"
            raise UnknownModel(f"unknown model {name!r}: known models are {known}")

    def current(self, now: float) -> list[dict[str, Any]]:
        """One entry per target: up/down, version, reload time, percentiles over the current window."""
        return self.cached(("current",), lambda: self._current(now))

    def _current(self, now: float) -> list[dict[str, Any]]:
        cfg = self.config
        scraped = self.store.latest_scrapes(now - max(3 * cfg.interval_s, cfg.current_window_s))
        window = self.store.samples_since(now - cfg.current_window_s - cfg.interval_s / 2)
        reloads = self.store.last_reloads(now - cfg.retention_hours * 3600)
        out = []
        for name in self.names():
            rows = [r for r in window if r["target"] == name]
            edges, counts = merge(load_buckets(r["buckets"]) for r in rows)
            requests = sum(r["requests"] for r in rows)
            errors = sum(r["errors"] for r in rows)
            span = sum({r["slot"]: r["interval_s"] for r in rows}.values())
            last = scraped.get(name)
            p95 = percentile_ms(edges, counts, 0.95)
            up = bool(last and last["up"])
            reload = reloads.get(name)
            out.append(
                {
                    "model_name": name,
                    "server_model": last.get("model_name") if last else None,
                    "model_version": last.get("model_version") if last else None,
                    "up": up,
                    "state": ("down" if last else "unknown") if not up else cfg.thresholds.grade(p95),
                    "error": last.get("error") if last else "not scraped yet",
                    "p50_ms": percentile_ms(edges, counts, 0.50),
                    "p95_ms": p95,
                    "p99_ms": percentile_ms(edges, counts, 0.99),
                    "requests": requests,
                    "request_rate": round(requests / span, 3) if span else 0.0,
                    "error_rate": round(errors / requests, 4) if requests else None,
                    "window_s": cfg.current_window_s,
                    "timestamp": iso(last["ts"]) if last else None,
                    "reloaded_at": iso(reload[0]) if reload else None,
                }
            )
        return out

    def step_for(self, hours: float) -> float:
        """The finest step at the collection interval that keeps a chart under MAX_POINTS points."""
        interval = self.config.interval_s
        return interval * max(1, math.ceil(hours * 3600 / MAX_POINTS / interval))

    def history(
        self, hours: float, name: str | None, now: float, step_s: float | None
    ) -> list[dict[str, Any]]:
        """Points per model and version, `step_s` apart (default: at most MAX_POINTS per model)."""
        self.check_name(name)
        step = step_s or self.step_for(hours)
        return [point_json(p, step) for p in self._refreshed(hours, step, now).points(name)]

    def history_body(self, hours: float, name: str | None, now: float, step_s: float | None) -> bytes:
        """`history` as the API's whole JSON answer, built once per collection."""
        self.check_name(name)
        step = step_s or self.step_for(hours)
        rollup = self._refreshed(hours, step, now)
        return self.cached(("history", hours, name, step), lambda: rollup.body(name, iso(self._cached_tick)))

    def warm(self, now: float) -> None:
        """Compute what the page and its default history ask for, so no visitor waits for it."""
        self.history_body(24, None, now, None)
        self.charts(now)

    def charts(self, now: float) -> dict[str, list[dict[str, Any]]]:
        """24 h chart points per model, versions merged (the worst of them in each step)."""
        return self.cached(("charts",), lambda: self._charts(now))

    def _charts(self, now: float) -> dict[str, list[dict[str, Any]]]:
        points: dict[str, dict[float, dict[str, Any]]] = {}
        for p in self._refreshed(24, self.step_for(24), now).points(None):
            slot = points.setdefault(p.target, {}).setdefault(
                p.ts, {"ts": p.ts, "p50_ms": None, "p95_ms": None, "p99_ms": None}
            )
            for key in ("p50_ms", "p95_ms", "p99_ms"):
                value = getattr(p, key)
                if value is not None and (slot[key] is None or value > slot[key]):
                    slot[key] = value
        return {name: sorted(by_ts.values(), key=lambda d: d["ts"]) for name, by_ts in points.items()}

    def timeline(self, hours: float, name: str | None, now: float) -> list[dict[str, Any]]:
        self.check_name(name)
        rows = self.store.timeline(now - hours * 3600, name)
        events: list[dict[str, Any]] = []
        for r in rows:
            kinds = []
            if r["previous_up"] is None:
                kinds.append("first_scrape")
            elif bool(r["up"]) != bool(r["previous_up"]):
                kinds.append("up" if r["up"] else "down")
            changed = r["previous_version"] is not None and r["model_version"] != r["previous_version"]
            if r["up"] and r["model_version"] is not None and changed:
                kinds.append("version_change")
            events.extend(
                {
                    "model_name": r["target"],
                    "timestamp": iso(r["ts"]),
                    "event": kind,
                    "up": bool(r["up"]),
                    "model_version": r["model_version"],
                    "previous_version": r["previous_version"],
                    "error": r["error"],
                }
                for kind in kinds
            )
        return events

    def alerts(self, hours: float, now: float) -> list[dict[str, Any]]:
        return [
            {
                "rule": a["rule"],
                "model_name": a["target"],
                "state": "firing" if a["resolved_at"] is None else "resolved",
                "message": a["message"],
                "value": a["value"],
                "fired_at": iso(a["fired_at"]),
                "resolved_at": iso(a["resolved_at"]),
            }
            for a in self.store.alerts_since(now - hours * 3600)
        ]
