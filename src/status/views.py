"""What the API and the page show, computed from the database (shared by every replica)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from mmp.status.config import StatusConfig
from mmp.status.intervals import merge, percentile_ms
from mmp.status.store import Store, load_buckets

T = TypeVar("T")
MAX_POINTS = 288  # a 24 h chart at 5-minute steps


class UnknownModel(LookupError):
    pass


def iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def envelope(data: list[dict[str, Any]], last_tick: float | None) -> dict[str, Any]:
    return {"status": "success", "data": data, "count": len(data), "last_updated": iso(last_tick)}


@dataclass
class Views:
    """Answers are cached until the next collection: the data only changes once per tick, while a
    page refreshing in many browsers asks for the same 24 h history again and again."""

    config: StatusConfig
    store: Store
    _cache: dict[tuple[Any, ...], Any] = field(default_factory=dict)
    _cached_tick: float | None = None

    def clear(self) -> None:
        self._cache.clear()

    def cached(self, key: tuple[Any, ...], compute: Callable[[], T]) -> T:
        tick = self.store.last_tick()
        if tick != self._cached_tick or len(self._cache) > 256:
            self._cache, self._cached_tick = {}, tick
        if key not in self._cache:
            self._cache[key] = compute()
        return cast(T, self._cache[key])

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
        self.check_name(name)
        step = step_s or self.step_for(hours)
        return self.cached(("history", hours, name, step), lambda: self._history(hours, name, now, step))

    def _history(self, hours: float, name: str | None, now: float, step: float) -> list[dict[str, Any]]:
        points = self.store.history(now - hours * 3600, step, name)
        return [
            {
                "model_name": p.target,
                "model_version": p.model_version,
                "timestamp": iso(p.ts),
                "p50_ms": p.p50_ms,
                "p95_ms": p.p95_ms,
                "p99_ms": p.p99_ms,
                "requests": p.requests,
                "request_rate": round(p.requests / p.span_s, 3) if p.span_s else 0.0,
                "error_rate": round(p.errors / p.requests, 4) if p.requests else None,
                "step_s": step,
            }
            for p in points
        ]

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
