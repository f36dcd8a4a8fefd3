"""Status tests drive the collector tick by tick (no sleeping) against real loopback servers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from mmp.status.collector import Collector
from tests.status.fakes import FakeTarget, WebhookReceiver


def run_ticks(collectors: list[Collector], ticks: list[float]) -> None:
    """Each collector collects at each tick, in order; pending webhook posts are delivered."""
    import httpx

    async def go() -> None:
        async with httpx.AsyncClient() as client:
            for tick in ticks:
                for collector in collectors:
                    await collector.collect(client, tick)
        for collector in collectors:
            await collector.notifier.drain()

    asyncio.run(go())


@pytest.fixture
def targets() -> Iterator[dict[str, FakeTarget]]:
    made = {"fast": FakeTarget("fast"), "slow": FakeTarget("slow")}
    yield made
    for target in made.values():
        target.close()


@pytest.fixture
def webhook(monkeypatch: pytest.MonkeyPatch) -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    monkeypatch.setenv("MMP_STATUS_WEBHOOK_URL", f"{receiver.url}/hook/secret-token")
    yield receiver
    receiver.close()


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'status.db'}"
