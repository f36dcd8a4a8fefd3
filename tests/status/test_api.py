"""The JSON API and the page over a database filled tick by tick from real loopback targets."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from mmp.status.app import create_app
from mmp.status.collector import Collector
from mmp.status.config import StatusConfig, Target
from mmp.status.store import Store
from tests.status.conftest import run_ticks
from tests.status.fakes import FakeTarget

T0 = 1_700_000_000.0
NOW = T0 + 3


@pytest.fixture
def client(targets: dict[str, FakeTarget], db_url: str) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    config = StatusConfig(
        targets=[Target(name=n, url=t.url) for n, t in targets.items()],
        interval_s=1.0,
        current_window_s=60.0,
    )
    store = Store(db_url)
    collector = Collector(config, store)
    run_ticks([collector], [T0])
    targets["fast"].observe(0.004, 100)
    targets["slow"].observe(0.3, 100)
    run_ticks([collector], [T0 + 1])
    with TestClient(create_app(config, store, clock=lambda: NOW, collect=False)) as test_client:
        yield test_client


def _ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) >= {"status", "data", "count", "last_updated"}
    assert body["count"] == len(body["data"])
    return body


def test_p95_metrics_history_and_health(client: Any) -> None:
    p95 = {r["model_name"]: r for r in _ok(client.get("/api/metrics/p95"))["data"]}
    assert p95["fast"]["state"] == "good" and p95["slow"]["state"] == "danger"
    assert _ok(client.get("/api/metrics/p95"))["last_updated"] == "2023-11-14T22:13:21+00:00"
    metrics = {r["model_name"]: r for r in _ok(client.get("/api/metrics"))["data"]}
    assert metrics["fast"]["requests"] == 100 and metrics["fast"]["model_version"] == "1"
    history = _ok(client.get("/api/metrics/history", params={"hours": 1, "model_name": "slow"}))
    assert [r["model_name"] for r in history["data"]] == ["slow"]
    assert history["data"][0]["p95_ms"] > 200
    health = client.get("/api/health").json()
    assert health["status"] == "success" and {d["model_name"] for d in health["data"]} == {"fast", "slow"}


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"model_name": "nope"}, 404, "unknown model 'nope': known models are fast, slow"),
        ({"hours": "abc"}, 400, "hours: Input should be a valid number"),
        ({"hours": -1}, 400, "hours: Input should be greater than 0"),
    ],
)
def test_bad_history_queries_get_clear_4xx(
    client: Any, params: dict[str, Any], status: int, message: str
) -> None:
    response = client.get("/api/metrics/history", params=params)
    assert response.status_code == status
    assert response.json()["status"] == "error"
    assert message in response.json()["message"]


def test_page_has_a_coloured_tile_per_model(client: Any) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert '<section class="tile good" id="fast"' in page.text
    assert '<section class="tile danger" id="slow"' in page.text
    assert 'http-equiv="refresh"' in page.text and "<svg" in page.text
    assert "http://" not in page.text.split("<body>", 1)[1].replace("http://www.w3.org", "")  # no CDN
