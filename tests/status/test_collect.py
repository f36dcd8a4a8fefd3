"""Scrape -> intervals -> store -> views and alerts, tick by tick, against real loopback servers."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from mmp.status.collector import Collector
from mmp.status.config import StatusConfig, Target
from mmp.status.intervals import percentile_ms
from mmp.status.scrape import ScrapeError, parse_metrics
from mmp.status.store import Store
from mmp.status.views import UnknownModel, Views
from tests.status.conftest import run_ticks
from tests.status.fakes import FakeTarget, WebhookReceiver

T0 = 1_700_000_000.0


def _config(targets: dict[str, FakeTarget], **extra: Any) -> StatusConfig:
    return StatusConfig(
        targets=[Target(name=n, url=t.url) for n, t in targets.items()],
        interval_s=1.0,
        scrape_timeout_s=2.0,
        current_window_s=60.0,
        page_url="http://status.example/",
        **extra,
    )


def _by_name(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["model_name"]: r for r in rows}


def test_server_text_parses_with_exact_edges_at_the_targets() -> None:
    target = FakeTarget("churn", "3")
    try:
        target.observe(0.004, 10)
        target.observe(0.15, 2, status=500)
        snap = parse_metrics(target.answer()[1].decode())
    finally:
        target.close()
    assert (snap.model_name, snap.version) == ("churn", "3")
    series = snap.series[("churn", "3")]
    assert series.count == 12 and series.errors == 2
    assert {0.1, 0.2} <= set(series.edges)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("<html><body>hello</body></html>", "malformed metrics text"),
        ('mmp_model_info{name="x" 1\n', "malformed metrics text"),
        ("# TYPE up gauge\nup 1\n", "not an mmp model server: /metrics has no mmp_ metrics"),
    ],
)
def test_text_that_is_not_mmp_metrics_is_a_clear_scrape_error(text: str, reason: str) -> None:
    with pytest.raises(ScrapeError, match=reason):
        parse_metrics(text)


def test_percentiles_are_exact_at_edges_and_linear_inside_a_bucket() -> None:
    edges = (0.1, 0.2, float("inf"))
    assert percentile_ms(edges, [95, 5, 0], 0.95) == pytest.approx(100.0)
    assert percentile_ms(edges, [50, 50, 0], 0.75) == pytest.approx(150.0)
    assert percentile_ms(edges, [0, 0, 10], 0.5) == pytest.approx(200.0)  # beyond the last edge
    assert percentile_ms(edges, [0, 0, 0], 0.5) is None


def test_latency_down_alert_resolve_and_reload(
    targets: dict[str, FakeTarget], webhook: WebhookReceiver, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="mmp")
    config = _config(targets)
    store = Store(db_url)
    collector = Collector(config, store, clock=lambda: T0 + 100)
    views = Views(config, store)
    fast, slow = targets["fast"], targets["slow"]

    run_ticks([collector], [T0])
    fast.observe(0.004, 200)
    slow.observe(0.3, 200)
    run_ticks([collector], [T0 + 1])
    now = _by_name(views.current(T0 + 1))
    assert now["fast"]["state"] == "good" and 3.0 <= now["fast"]["p95_ms"] <= 5.0
    assert now["slow"]["state"] == "danger" and 200.0 <= now["slow"]["p95_ms"] <= 300.0
    assert now["fast"]["requests"] == 200 and now["fast"]["model_version"] == "1"

    fast.override = (503, b"busy", "text/plain")  # down for three scrapes: one alert
    run_ticks([collector], [T0 + 2, T0 + 3])
    assert _by_name(views.current(T0 + 3))["fast"]["state"] == "down"
    assert not [m for m in webhook.received if "is down" in m["text"]]
    run_ticks([collector], [T0 + 4, T0 + 5])
    down = [m for m in webhook.received if "is down" in m["text"]]
    assert (
        len(down) == 1 and "[FIRING]" in down[0]["text"] and "http://status.example/#fast" in down[0]["text"]
    )

    fast.override = None
    fast.serve_version("2")  # a hot reload: the version changes on the timeline
    run_ticks([collector], [T0 + 6, T0 + 7])
    resolved = [m for m in webhook.received if "[RESOLVED]" in m["text"]]
    assert len(resolved) == 1 and "fast" in resolved[0]["text"]
    events = [e for e in views.timeline(1, "fast", T0 + 8) if e["event"] == "version_change"]
    assert [(e["previous_version"], e["model_version"]) for e in events] == [("1", "2")]
    assert _by_name(views.current(T0 + 7))["fast"]["reloaded_at"] is not None

    # the slow model's p95 stays above 200 ms for 5 intervals: one p95 alert
    for tick in range(8, 14):
        slow.observe(0.3, 20)
        run_ticks([collector], [T0 + tick])
    p95 = [m for m in webhook.received if "p95 latency" in m["text"]]
    assert len(p95) == 1 and "slow" in p95[0]["text"]
    assert "secret-token" not in caplog.text  # the webhook URL is never logged


def test_bad_targets_are_reported_and_the_good_one_keeps_its_data(
    targets: dict[str, FakeTarget], db_url: str
) -> None:
    fast = targets["fast"]
    odd = FakeTarget("odd")
    odd.override = (200, b"<html>a web page</html>", "text/html")
    garbled = FakeTarget("garbled")
    garbled.override = (200, b'mmp_model_info{name="x" 1\n', "text/plain")
    closed = FakeTarget("closed")
    closed.close()
    try:
        config = _config({"fast": fast, "odd": odd, "garbled": garbled, "closed": closed})
        store = Store(db_url)
        collector = Collector(config, store)
        run_ticks([collector], [T0])
        fast.observe(0.01, 50)
        run_ticks([collector], [T0 + 1])
    finally:
        odd.close()
        garbled.close()
    now = _by_name(Views(config, store).current(T0 + 1))
    assert now["fast"]["up"] and now["fast"]["requests"] == 50
    assert now["odd"]["state"] == "down" and "malformed metrics text" in now["odd"]["error"]
    assert "malformed metrics text" in now["garbled"]["error"]
    assert now["closed"]["error"].startswith("unreachable")
    with pytest.raises(UnknownModel, match="unknown model 'nope': known models are fast, odd"):
        Views(config, store).history(24, "nope", T0 + 1, None)


def test_replicas_on_one_database_count_once_and_alert_once(
    targets: dict[str, FakeTarget], webhook: WebhookReceiver, db_url: str
) -> None:
    config = _config(targets)
    store = Store(db_url)
    replicas = [Collector(config, Store(db_url)), Collector(config, Store(db_url))]
    run_ticks(replicas, [T0])
    targets["fast"].observe(0.004, 100)
    targets["fast"].override = None
    run_ticks(replicas, [T0 + 1])
    targets["slow"].override = (500, b"", "text/plain")
    run_ticks(replicas, [T0 + 2, T0 + 3, T0 + 4])
    fast = _by_name(Views(config, store).current(T0 + 4))["fast"]
    for each in [store, *(r.store for r in replicas)]:
        each.close()
    assert fast["requests"] == 100  # not 200
    assert len([m for m in webhook.received if "is down" in m["text"]]) == 1


@pytest.mark.slow
def test_replicas_on_postgresql_count_once_and_alert_once(
    targets: dict[str, FakeTarget], webhook: WebhookReceiver, postgres_url: str
) -> None:
    """The same as above on a real PostgreSQL server: INSERT ... ON CONFLICT DO NOTHING keys."""
    test_replicas_on_one_database_count_once_and_alert_once(targets, webhook, postgres_url)


def test_a_server_still_loading_its_model_is_up_without_a_version() -> None:
    loading = FakeTarget("churn")
    try:
        loading.metrics.model_info.clear()
        loading.metrics.model_events.labels("load_failed", "").inc(0)
        snap = parse_metrics(loading.answer()[1].decode())
    finally:
        loading.close()
    assert snap.version == "" and snap.model_name == ""
