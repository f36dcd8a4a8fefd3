"""Status tests drive the collector tick by tick (no sleeping) against real loopback servers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from mmp.status.collector import Collector
from tests.conftest import DATA, RECIPES
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


@pytest.fixture(scope="session")
def troubled_model(session_store: tuple[str, Path], tmp_path_factory: pytest.TempPathFactory) -> str:
    """`models:/status_troubled/1`: a real model trained by mmp whose `predict` sleeps or fails when
    its server's environment says so (see tests/status/troubled_model.py)."""
    import cloudpickle
    import yaml

    import tests.status.troubled_model as troubled
    from mmp.pipelines.train import train
    from mmp.recipe.loader import load_config, load_recipe

    recipe = yaml.safe_load((RECIPES / "diabetes.yaml").read_text(encoding="utf-8"))
    recipe["name"] = "status_troubled"
    recipe["model"] = {"class_path": "tests.status.troubled_model.TroubledRegressor", "hyperparameters": {}}
    recipe["evaluation"] = {"metrics": ["rmse"]}
    path = tmp_path_factory.mktemp("troubled-recipe") / "troubled.yaml"
    path.write_text(yaml.safe_dump(recipe), encoding="utf-8")
    cloudpickle.register_pickle_by_value(troubled)
    try:
        data = str(DATA / "diabetes.csv")
        result = train(load_recipe(path), load_config(session_store[1]), data, register_as="status_troubled")
    finally:
        cloudpickle.unregister_pickle_by_value(troubled)
    return f"models:/status_troubled/{result.registered_version}"


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'status.db'}"
