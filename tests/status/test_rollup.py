"""A history rollup brought up to date tick by tick answers exactly what one built from scratch does."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from mmp.status.rollup import Rollup
from mmp.status.store import Store, samples

INTERVAL = 60.0
STEP = 300.0
T0 = 1_700_000_000.0 - 1_700_000_000.0 % STEP


def _row(target: str, version: str, ts: float, rng: random.Random) -> dict[str, Any]:
    return {
        "target": target,
        "model_name": target,
        "model_version": version,
        "slot": round(ts / INTERVAL),
        "ts": ts,
        "interval_s": INTERVAL,
        "requests": float(rng.randint(0, 40)),
        "errors": float(rng.randint(0, 2)),
        "p50_ms": rng.choice([None, rng.uniform(1, 20)]),
        "p95_ms": rng.uniform(20, 90),
        "p99_ms": rng.uniform(90, 400),
        "buckets": "[[null],[0]]",
    }


def _answer(rollup: Rollup, name: str | None) -> list[dict[str, Any]]:
    return list(json.loads(rollup.body(name, None))["data"])


def test_incremental_rollup_matches_a_fresh_one(tmp_path: Path) -> None:
    check_incremental_rollup(f"sqlite:///{tmp_path / 'status.db'}")


def test_incremental_rollup_on_postgresql(postgres_url: str) -> None:
    check_incremental_rollup(postgres_url)


def check_incremental_rollup(url: str) -> None:
    store = Store(url)
    try:
        _check_incremental_rollup(store)
    finally:
        store.close()


def _check_incremental_rollup(store: Store) -> None:
    rng = random.Random(7)
    hours = 1.0
    kept = Rollup(hours, STEP, late_s=2 * INTERVAL + 10)
    late: list[dict[str, Any]] = []
    for k in range(150):  # 2.5 h of ticks: the 1 h window slides and old steps drop out
        ts = T0 + k * INTERVAL
        rows = [_row("a", "1" if k < 70 else "2", ts, rng), _row("b", "1", ts, rng)]
        if k % 9 == 4:  # another replica writes model c's row for this tick two ticks later
            late.append(_row("c", "1", ts, rng))
        else:
            rows.append(_row("c", "1", ts, rng))
        if k % 9 == 6:
            rows.extend(late)
            late.clear()
        with store.engine.begin() as conn:
            conn.execute(samples.insert(), rows)
        now = ts + 1
        kept.refresh(store, now)
        fresh = Rollup(hours, STEP, late_s=0)
        fresh.refresh(store, now)
        for name in (None, "a", "c", "unknown"):
            assert _answer(kept, name) == _answer(fresh, name), (k, name)
    data = _answer(kept, None)
    assert {d["model_name"] for d in data} == {"a", "b", "c"}
    # whole steps of the last hour only, one point per model version and step
    assert len([d for d in data if d["model_name"] == "b"]) == 13
    assert all(d["step_s"] == STEP for d in data)


def test_a_step_takes_the_worst_percentile_and_sums_counts(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'status.db'}")
    rng = random.Random(1)
    rows = [_row("a", "1", T0 + i * INTERVAL, rng) for i in range(5)]  # one whole step
    with store.engine.begin() as conn:
        conn.execute(samples.insert(), rows)
    rollup = Rollup(1, STEP, late_s=0)
    rollup.refresh(store, T0 + 5 * INTERVAL)
    [point] = _answer(rollup, "a")
    assert point["p95_ms"] == max(r["p95_ms"] for r in rows)
    assert point["p50_ms"] == max(r["p50_ms"] for r in rows if r["p50_ms"] is not None)
    assert point["requests"] == sum(r["requests"] for r in rows)
    assert point["request_rate"] == round(sum(r["requests"] for r in rows) / (5 * INTERVAL), 3)
    assert point["timestamp"].startswith("2023-11-14T22:")
    body = json.loads(rollup.body(None, "2023-11-14T22:15:00+00:00"))
    assert body["count"] == 1 and body["status"] == "success"
