"""Alert rules: evaluated once per tick per target, sent once when firing and once when resolved.

Each rule looks at one tick of one target and answers "breached, with this value" or "fine". A
streak of `for_intervals` breaches opens an episode, a streak of `resolve_intervals` fine ticks
closes it. Opening and closing are claimed in the database (see `store`), so with several replicas
exactly one of them posts each message. The webhook URL comes from an environment variable and is
never logged: a failed delivery is logged with the HTTP status or the exception's type only.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from mmp.status.config import (
    Alerts,
    ErrorRateAbove,
    MemoryAbove,
    P95Above,
    ReloadFailed,
    Rule,
    StatusConfig,
    TargetDown,
)

logger = logging.getLogger("mmp.status")

DELIVERY_ATTEMPTS = 3


@dataclass(frozen=True)
class Observation:
    """What one tick said about one target (None where it said nothing)."""

    up: bool
    p95_ms: float | None = None
    requests: float = 0.0
    errors: float = 0.0
    new_reload_failures: float = 0.0
    memory_share: float | None = None


def check(rule: Rule, seen: Observation) -> tuple[bool, float | None]:
    """(breached, value shown in the message)."""
    if isinstance(rule, TargetDown):
        return not seen.up, None
    if not seen.up:
        return False, None  # a down target has no latency: only target_down speaks for it
    if isinstance(rule, P95Above):
        return seen.p95_ms is not None and seen.p95_ms > rule.threshold_ms, seen.p95_ms
    if isinstance(rule, ErrorRateAbove):
        rate = seen.errors / seen.requests if seen.requests else None
        return rate is not None and rate > rule.threshold, rate
    if isinstance(rule, ReloadFailed):
        return seen.new_reload_failures > 0, seen.new_reload_failures
    if isinstance(rule, MemoryAbove):
        share = seen.memory_share
        return share is not None and share > rule.share, share
    raise AssertionError(f"unknown rule {rule!r}")  # pragma: no cover - the config is a closed union


def describe(rule: Rule, target: str, value: float | None) -> str:
    if isinstance(rule, TargetDown):
        return f"{target} is down: {rule.for_intervals} scrapes in a row failed"
    if isinstance(rule, P95Above):
        return (
            f"{target} p95 latency {value or 0:.1f} ms > {rule.threshold_ms:g} ms "
            f"for {rule.for_intervals} intervals"
        )
    if isinstance(rule, ErrorRateAbove):
        return f"{target} error rate {100 * (value or 0):.1f}% > {100 * rule.threshold:g}%"
    if isinstance(rule, ReloadFailed):
        return f"{target} failed to load a new model version; the previous version keeps serving"
    if isinstance(rule, MemoryAbove):
        return (
            f"{target} memory at {100 * (value or 0):.0f}% of its container limit (> {100 * rule.share:g}%)"
        )
    raise AssertionError(f"unknown rule {rule!r}")  # pragma: no cover


@dataclass
class _Streak:
    breached: int = 0
    fine: int = 0


@dataclass
class Evaluator:
    """Per-replica streak counters; the episode state itself lives in the database."""

    config: StatusConfig
    streaks: dict[tuple[str, str], _Streak] = field(default_factory=dict)

    def step(self, target: str, seen: Observation) -> list[tuple[Rule, bool, float | None]]:
        """Update streaks; (rule, should_be_firing, value) for rules whose streak just decided."""
        decided = []
        for rule in self.config.alerts.rules:
            breached, value = check(rule, seen)
            streak = self.streaks.setdefault((rule.kind, target), _Streak())
            if breached:
                streak.breached, streak.fine = streak.breached + 1, 0
                if streak.breached >= rule.for_intervals:
                    decided.append((rule, True, value))
            else:
                streak.breached, streak.fine = 0, streak.fine + 1
                if streak.fine >= rule.resolve_intervals:
                    decided.append((rule, False, value))
        return decided


def message(config: StatusConfig, event: dict[str, Any]) -> dict[str, Any]:
    """The webhook body: Slack's incoming-webhook `{text}`, or every field plus text."""
    icon = ":red_circle:" if event["status"] == "firing" else ":large_green_circle:"
    link = f"{config.link()}#{event['model']}"
    text = f"{icon} [{event['status'].upper()}] {event['rule']}: {event['message']} <{link}|status page>"
    if config.alerts.format == "slack":
        return {"text": text}
    return {**event, "url": link, "text": text}


class Notifier:
    """Posts messages in the background with a few retries; remembers what it sent (for tests and
    the page) without ever recording the URL."""

    def __init__(self, settings: Alerts) -> None:
        self.settings = settings
        self.sent: list[dict[str, Any]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._warned = False

    def send(self, body: dict[str, Any]) -> None:
        url = self.settings.webhook_url()
        if url is None:
            if not self._warned:
                logger.warning(
                    "alerts are not delivered: set %s to a webhook URL", self.settings.webhook_url_env
                )
                self._warned = True
            return
        task = asyncio.get_running_loop().create_task(self._post(url, body))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _post(self, url: str, body: dict[str, Any]) -> None:
        import httpx

        problem = ""
        async with httpx.AsyncClient(timeout=10.0) as client:
            for attempt in range(DELIVERY_ATTEMPTS):
                try:
                    response = await client.post(url, json=body)
                except httpx.HTTPError as exc:
                    problem = type(exc).__name__  # never str(exc): it may carry the URL
                else:
                    if response.status_code < 300:
                        self.sent.append(body)
                        return
                    problem = f"HTTP {response.status_code}"
                await asyncio.sleep(2**attempt)
        logger.error("alert not delivered after %d attempts: %s", DELIVERY_ATTEMPTS, problem)

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
