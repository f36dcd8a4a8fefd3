"""The scrape loop: every interval, on wall-clock ticks, scrape all targets at once, store the
intervals, evaluate alert rules, prune old history.

Ticks are multiples of the interval since the epoch, so every replica scrapes in the same slot and
the database keeps one row per target per slot. One bad target (down, not an mmp server, garbage
text) is recorded as down with its reason; the others carry on.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mmp.status.alerts import Evaluator, Notifier, Observation, describe, message
from mmp.status.config import StatusConfig, Target
from mmp.status.intervals import Interval, intervals_between, merge, percentile_ms
from mmp.status.scrape import ScrapeError, Snapshot, scrape
from mmp.status.store import Store, dump_buckets

logger = logging.getLogger("mmp.status")

PRUNE_EVERY_S = 600.0


@dataclass(frozen=True)
class Outcome:
    target: Target
    snapshot: Snapshot | None
    error: str | None


class Collector:
    def __init__(self, config: StatusConfig, store: Store, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.previous: dict[str, Snapshot] = {}
        self.last_version: dict[str, str] = {}  # kept on down rows, so a reload shows across an outage
        self.evaluator = Evaluator(config)
        self.notifier = Notifier(config.alerts)
        self.last_tick: float | None = None
        self._last_prune = 0.0
        # run (in a thread) after each collection of the loop, e.g. to have the page's answers ready
        self.after_collect: list[Callable[[], object]] = []

    def next_tick(self, now: float) -> float:
        step = self.config.interval_s
        return (math.floor(now / step) + 1) * step

    async def run(self) -> None:
        """Scrape forever (until cancelled). A failing tick is logged; the next one still runs."""
        import httpx

        async with httpx.AsyncClient(follow_redirects=False) as client:
            while True:
                tick = self.next_tick(self.clock())
                await asyncio.sleep(max(0.0, tick - self.clock()))
                try:
                    await self.collect(client, tick)
                    for hook in self.after_collect:
                        await asyncio.to_thread(hook)
                except Exception:  # a database hiccup must not end the loop
                    logger.exception("status collection at %.0f failed", tick)

    async def collect(self, client: Any, tick: float) -> None:
        targets = self.config.targets
        outcomes = await asyncio.gather(*(self._scrape(client, t) for t in targets))
        slot = round(tick / self.config.interval_s)
        scrape_rows: list[dict[str, Any]] = []
        sample_rows: list[dict[str, Any]] = []
        observations: dict[str, Observation] = {}
        for outcome in outcomes:
            name = outcome.target.name
            snap = outcome.snapshot
            if snap is None:
                down = {"target": name, "slot": slot, "ts": tick, "up": False, "error": outcome.error}
                scrape_rows.append({**down, "model_version": self.last_version.get(name)})
                observations[name] = Observation(up=False)
                continue
            previous = self.previous.get(name)
            intervals = intervals_between(previous, snap)
            span = self.config.interval_s if previous is None else max(snap.at - previous.at, 1e-3)
            sample_rows.extend(self._sample_row(name, slot, tick, span, i) for i in intervals)
            scrape_rows.append(
                {
                    "target": name,
                    "slot": slot,
                    "ts": tick,
                    "up": True,
                    "model_name": snap.model_name,
                    "model_version": snap.version or self.last_version.get(name),
                    "error": None if snap.version else "the model is loading",
                    "reload_failures": snap.reload_failures,
                    "memory_used": snap.memory_used,
                    "memory_limit": snap.memory_limit,
                }
            )
            observations[name] = _observe(previous, snap, intervals)
            self.previous[name] = snap
            if snap.version:
                self.last_version[name] = snap.version
        await asyncio.to_thread(self.store.record, scrape_rows, sample_rows)
        self.last_tick = tick
        await self._alerts(slot, tick, observations)
        if tick - self._last_prune >= PRUNE_EVERY_S:
            self._last_prune = tick
            await asyncio.to_thread(self.store.prune, tick - self.config.retention_hours * 3600)

    async def _scrape(self, client: Any, target: Target) -> Outcome:
        try:
            snap = await scrape(client, target.url, target.api_key(), self.config.scrape_timeout_s)
        except ScrapeError as exc:
            if self.previous.pop(target.name, None) is not None:
                logger.warning("%s is down: %s", target.name, exc)
            return Outcome(target, None, str(exc))
        return Outcome(target, snap, None)

    def _sample_row(self, target: str, slot: int, tick: float, span: float, i: Interval) -> dict[str, Any]:
        return {
            "target": target,
            "model_name": i.model_name,
            "model_version": i.version,
            "slot": slot,
            "ts": tick,
            "interval_s": span,
            "requests": i.requests,
            "errors": i.errors,
            "p50_ms": i.percentile_ms(0.50),
            "p95_ms": i.percentile_ms(0.95),
            "p99_ms": i.percentile_ms(0.99),
            "buckets": dump_buckets(i.edges, i.counts),
        }

    async def _alerts(self, slot: int, tick: float, observations: dict[str, Observation]) -> None:
        decisions = [
            (target, rule, firing, value)
            for target, seen in observations.items()
            for rule, firing, value in self.evaluator.step(target, seen)
        ]
        if not decisions:
            return
        sends = await asyncio.to_thread(self._claim, decisions, slot, tick)
        for body in sends:
            self.notifier.send(message(self.config, body))

    def _claim(self, decisions: list[Any], slot: int, tick: float) -> list[dict[str, Any]]:
        """Open or close episodes in the database; the events this replica must announce."""
        open_now = self.store.open_alerts()
        events = []
        for target, rule, firing, value in decisions:
            episode = open_now.get((rule.kind, target))
            if firing and episode is None:
                text = describe(rule, target, value)
                if self.store.claim_firing(rule.kind, target, slot, tick, value, text):
                    events.append(_event("firing", rule.kind, target, value, text))
            elif not firing and episode is not None and self.store.claim_resolved(episode["id"], tick, value):
                events.append(_event("resolved", rule.kind, target, value, f"resolved: {episode['message']}"))
        return events


def _event(status: str, rule: str, target: str, value: float | None, text: str) -> dict[str, Any]:
    return {"status": status, "rule": rule, "model": target, "value": value, "message": text}


def _observe(previous: Snapshot | None, snap: Snapshot, intervals: list[Interval]) -> Observation:
    edges, counts = merge((i.edges, i.counts) for i in intervals)
    new_failures = 0.0
    if previous is not None:
        grew = snap.reload_failures - previous.reload_failures
        new_failures = grew if grew >= 0 else snap.reload_failures  # a restart reset the counter
    share = None
    if snap.memory_used is not None and snap.memory_limit:
        share = snap.memory_used / snap.memory_limit
    return Observation(
        up=True,
        p95_ms=percentile_ms(edges, counts, 0.95) if intervals else None,
        requests=sum(i.requests for i in intervals),
        errors=sum(i.errors for i in intervals),
        new_reload_failures=new_failures,
        memory_share=share,
    )
