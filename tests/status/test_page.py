"""The page's tiles as HTML: numbers that fit a tile, and a first chart step that shows."""

from __future__ import annotations

from mmp.status.config import StatusConfig
from mmp.status.page import render_tiles

NOW = 1_700_000_000.0


def _tile(name: str, p95: float) -> dict[str, object]:
    return {
        "model_name": name,
        "state": "danger",
        "model_version": "1",
        "reloaded_at": None,
        "error": None,
        "error_rate": 0.0,
        "p50_ms": p95 * 0.8,
        "p95_ms": p95,
        "p99_ms": p95 * 1.02,
        "request_rate": 1.5,
    }


def test_slow_numbers_fit_and_a_single_step_is_a_dot() -> None:
    config = StatusConfig(targets=[{"name": "slow", "url": "http://127.0.0.1:1"}])  # type: ignore[list-item]
    point = {"ts": NOW - 60, "p50_ms": 3900.0, "p95_ms": 4875.0, "p99_ms": 4975.0}
    html = render_tiles(config, [_tile("slow", 4875.0)], {"slow": [point]}, {}, NOW)
    assert '<b class="p95">4875</b>' in html and '<b class="p50">3900</b>' in html
    assert html.count("<circle") == 3 and "<polyline" not in html
    two = render_tiles(config, [_tile("slow", 87.25)], {"slow": [point, {**point, "ts": NOW}]}, {}, NOW)
    assert '<b class="p95">87.2</b>' in two or '<b class="p95">87.3</b>' in two
    assert two.count("<polyline") == 3 and "<circle" not in two
