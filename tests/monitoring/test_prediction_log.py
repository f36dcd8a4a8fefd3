"""The prediction log writer and label store on their own: round trip, drops, shutdown, kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow.dataset as ds
import pytest

from mmp.monitoring.labels import InvalidLabels, LabelStore, check_labels
from mmp.monitoring.prediction_log import ParquetSink, PredictionLog, open_log
from mmp.monitoring.run import MonitorJob, run_monitor
from mmp.recipe.config import PredictionLogSettings
from tests.monitoring import synthetic

CONTRACT = synthetic.contract()


def scored(n: int, seed: int = 0) -> tuple[list[dict], list[dict]]:
    import numpy as np

    frame = synthetic.rows(n, np.random.default_rng(seed))
    rows = frame[["customer_id", *CONTRACT.model_input_columns]].to_dict("records")
    results = [
        {"prediction": int(p), "probabilities": {"0": float(a), "1": float(b)}}
        for p, a, b in zip(frame["prediction"], frame["probability_0"], frame["probability_1"], strict=True)
    ]
    return rows, results


def settings(path: Path, **kw: object) -> PredictionLogSettings:
    return PredictionLogSettings(enabled=True, path=str(path), **kw)  # type: ignore[arg-type]


def test_round_trip_two_versions_partitioned_and_monitor_reads_it(tmp_path: Path, reference) -> None:
    log = PredictionLog(
        settings(tmp_path / "log", flush_interval_s=0.05), ParquetSink(str(tmp_path / "log"))
    ).start()
    rows, results = scored(300)
    for i in range(100):
        log.record(f"req{i}", "churn", "1", CONTRACT, rows[i : i + 1], results[i : i + 1], 0.002)
    log.record("batch", "churn", "2", CONTRACT, rows[100:], results[100:], 0.01, batch=True)
    log.close()
    assert log.written == 300 and log.dropped == 0
    files = sorted(p.relative_to(tmp_path / "log").parts[:2] for p in (tmp_path / "log").rglob("*.parquet"))
    assert {f[1] for f in files} == {"model_version=1", "model_version=2"}
    assert not [p for p in (tmp_path / "log").rglob(".*")]  # no temporary file left
    back = ds.dataset(tmp_path / "log", partitioning="hive").to_table().to_pandas()
    assert len(back) == 300 and back["request_id"].is_unique
    assert {"req0", "batch/0", "batch/199"} <= set(back["request_id"])
    assert back.groupby("model_version").size().to_dict() == {1: 100, 2: 200}
    got = back.set_index("request_id").loc["req7"]
    assert got["x1"] == rows[7]["x1"] and got["region"] == rows[7]["region"]
    assert got["prediction"] == results[7]["prediction"]
    assert got["probability_1"] == pytest.approx(results[7]["probabilities"]["1"])
    # what mmp monitor reads: the folder, with labels joined by request id
    labels = tmp_path / "labels"
    store = LabelStore(str(labels))
    store.append(CONTRACT, check_labels(CONTRACT, [{"request_id": f"req{i}", "label": 1} for i in range(10)]))
    doc = run_monitor(
        MonitorJob(data=str(tmp_path / "log"), reference_profile=str(reference[1]), labels=str(labels))
    ).document
    assert sum(w["rows"] for w in doc["windows"]) == 300
    assert sum((w["realized"] or {}).get("labeled_rows", 0) for w in doc["windows"]) == 10


def test_a_full_queue_drops_and_counts_without_blocking(tmp_path: Path) -> None:
    class Stuck(ParquetSink):
        def write(self, entries):  # the disk hangs: nothing leaves the buffer
            time.sleep(0.5)
            super().write(entries)

    dropped: list[int] = []
    log = PredictionLog(
        settings(tmp_path, queue_records=50, flush_rows=1000, flush_interval_s=10),
        Stuck(str(tmp_path)),
        on_drop=dropped.append,
    ).start()
    rows, results = scored(80)
    started = time.perf_counter()
    for i in range(80):
        log.record(f"r{i}", "churn", "1", CONTRACT, rows[i : i + 1], results[i : i + 1], 0.001)
    assert time.perf_counter() - started < 0.5  # never waited on the writer
    assert log.dropped == 30 and sum(dropped) == 30
    log.close()
    assert log.written == 50


def test_sampling_keeps_about_the_share(tmp_path: Path) -> None:
    log = PredictionLog(settings(tmp_path, sample_rate=0.25), ParquetSink(str(tmp_path))).start()
    rows, results = scored(1)
    for i in range(2000):
        log.record(f"r{i}", "churn", "1", CONTRACT, rows, results, 0.001)
    log.close()
    assert 400 < log.written < 600


CHILD = """
import sys, time
from mmp.monitoring.prediction_log import ParquetSink, PredictionLog
from mmp.recipe.config import PredictionLogSettings
from tests.monitoring.test_prediction_log import CONTRACT, scored
path = sys.argv[1]
settings = PredictionLogSettings(enabled=True, path=path, flush_interval_s=0.5)
log = PredictionLog(settings, ParquetSink(path)).start()
rows, results = scored(50)
for i in range(50):
    log.record(f"old{i}", "churn", "1", CONTRACT, rows[i:i+1], results[i:i+1], 0.001)
print("old", flush=True)
time.sleep(1.5)  # more than the flush interval: the old records are on disk
for i in range(50):
    log.record(f"new{i}", "churn", "1", CONTRACT, rows[i:i+1], results[i:i+1], 0.001)
print("new", flush=True)
time.sleep(60)
"""


def test_kill_9_loses_at_most_the_last_flush_interval(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[2]
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path / "log")],
        stdout=subprocess.PIPE,
        text=True,
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(repo)},
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "old"
    assert child.stdout.readline().strip() == "new"
    child.send_signal(signal.SIGKILL)
    child.wait(10)
    child.stdout.close()
    back = ds.dataset(tmp_path / "log", partitioning="hive").to_table().to_pandas()
    ids = set(back["request_id"])
    assert {f"old{i}" for i in range(50)} <= ids  # older than one flush interval: kept
    assert len(back) == len(ids)  # whole files only (every visible file read), no duplicates


def test_labels_are_checked_against_the_target_type() -> None:
    with pytest.raises(InvalidLabels) as bad:
        check_labels(
            CONTRACT,
            [{"request_id": "a", "label": "maybe"}, {"label": 1}, {"request_id": "b", "label": 1, "x": 2}],
        )
    where = [".".join(map(str, p.loc)) for p in bad.value.problems]
    assert where == ["labels.0.label", "labels.1", "labels.2.x"]
    ok = check_labels(CONTRACT, [{"customer_id": 5, "label": 0, "timestamp": "2026-03-02T10:00:00"}])
    assert ok[0]["label"] == "0" and ok[0]["timestamp"].tzinfo is not None


def test_open_log_sql_round_trip(tmp_path: Path) -> None:
    import sqlalchemy as sa

    uri = f"sqlite:///{tmp_path / 'logs.db'}"
    log = open_log(PredictionLogSettings(enabled=True, kind="sql", flush_interval_s=0.05), lambda name: uri)
    rows, results = scored(20)
    log.record("r", "churn", "3", CONTRACT, rows, results, 0.002, batch=True)
    log.close()
    frame = pd.read_sql_table("prediction_logs", sa.create_engine(uri))
    assert len(frame) == 20 and set(frame["model_version"]) == {"3"}
    assert frame["x1"].tolist() == pytest.approx([r["x1"] for r in rows])
