"""Drift detection on streams with a known answer, through the same entry point as `mmp monitor`."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from mmp.monitoring import drift
from mmp.monitoring.profile import ReferenceProfile
from mmp.monitoring.run import MonitorJob, run_monitor


def test_distances_have_known_values() -> None:
    assert drift.psi([50, 50], [50, 50]) == 0
    # PSI of (0.5, 0.5) -> (0.25, 0.75): 0.25 ln 2 + ... = 0.2747
    assert drift.psi([50, 50], [25, 75]) == pytest.approx(
        0.25 * math.log(0.5) * -1 + 0.25 * math.log(1.5), 1e-9
    )
    assert drift.jensen_shannon([1, 0], [0, 1]) == pytest.approx(1.0)
    assert drift.jensen_shannon([3, 1], [3, 1]) == 0
    # all mass moves one bin right, bins 1 apart, reference sd 1: distance 1
    assert drift.wasserstein_binned([1, 0, 0], [0, 1, 0], [0.0, 1.0, 2.0], 1.0) == pytest.approx(1.0)


def run(reference: Path, data: Path, **kw: object) -> dict:
    return run_monitor(MonitorJob(data=str(data), reference_profile=str(reference), **kw)).document  # type: ignore[arg-type]


def test_two_shifted_columns_are_flagged_from_the_shift_day_on_and_not_before(
    reference: tuple[ReferenceProfile, Path], shifted_log: Path
) -> None:
    doc = run(reference[1], shifted_log, window="1d")
    windows = doc["windows"]
    assert len(windows) == 30
    for day, window in enumerate(windows):
        if day < 20:
            assert window["drifted_columns"] == [], (day, window["drifted_columns"])
            assert window["status"] == "ok", (day, window["alerts"])
        else:
            assert sorted(window["drifted_columns"]) == ["region", "x1"], day
            assert window["status"] == "alert"
            assert window["drift_share"] == pytest.approx(2 / 5)
    assert doc["status"] == "alert"
    assert run_monitor(MonitorJob(data=str(shifted_log), reference_profile=str(reference[1]))).exit_code == 3


def test_an_unshifted_stream_raises_no_alert_over_30_windows(
    reference: tuple[ReferenceProfile, Path], stable_log: Path
) -> None:
    doc = run(reference[1], stable_log, window="1d")
    assert len(doc["windows"]) == 30
    assert doc["alerts"] == []
    assert doc["status"] == "ok"
    worst = max(c["psi"] for w in doc["windows"] for c in w["columns"].values())
    assert worst < 0.05  # far below the 0.2 threshold: the default is not tuned to this data


def test_estimated_accuracy_tracks_realized_accuracy_on_a_calibrated_classifier(
    reference: tuple[ReferenceProfile, Path], shifted_log: Path
) -> None:
    """Tolerance: 0.01 over all 30,000 rows, 0.05 in every 1,000-row window (3.5 standard errors)."""
    labels = shifted_log.parent / "labels.parquet"
    import pandas as pd

    log = pd.read_parquet(shifted_log)
    log[["request_id", "churned"]].rename(columns={"churned": "label"}).to_parquet(labels)
    doc = run(reference[1], shifted_log, window="1d", labels=str(labels))
    assert doc["calibration"]["calibrated"] is True
    realized = [w["realized"]["accuracy"] for w in doc["windows"]]
    estimated = [w["estimated"]["accuracy"] for w in doc["windows"]]
    assert all(w["realized"]["labeled_rows"] == 1000 for w in doc["windows"])
    for r, e in zip(realized, estimated, strict=True):
        assert abs(r - e) < 0.05
    assert abs(sum(realized) / 30 - sum(estimated) / 30) < 0.01


def test_an_overconfident_model_is_reported_as_not_calibrated(tmp_path: Path) -> None:
    from tests.monitoring import synthetic

    profile = synthetic.profile(n=4000, sharpen=4.0)
    path = tmp_path / "p.json"
    path.write_text(profile.to_json())
    data = tmp_path / "log.parquet"
    synthetic.stream(2, 500, None, sharpen=4.0).to_parquet(data)
    doc = run(path, data)
    assert doc["calibration"]["calibrated"] is False
    assert all(w["estimated"]["calibrated"] is False for w in doc["windows"])
    from mmp.monitoring.report import render_html

    assert "not calibrated" in render_html(doc)
