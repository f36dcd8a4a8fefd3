"""Realized metrics: labels joined to predictions (in memory or through disk partitions), scored by
the metric registry under its names, read from files or SQL, and logged to MLflow with --log."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from mmp.core.errors import MmpError
from mmp.core.metrics import default_metrics
from mmp.monitoring.profile import ReferenceProfile
from mmp.monitoring.run import MonitorJob, run_monitor
from mmp.recipe.config import SqlSettings
from tests.conftest import TrainedExample
from tests.monitoring import synthetic

CLASSIFICATION = list(default_metrics("classification"))


@pytest.fixture(scope="module")
def labelled(shifted_log: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    """Labels for two rows in three, one of them sent twice (the later label wins)."""
    log = pd.read_parquet(shifted_log)
    labels = log.iloc[::3][["request_id", "churned"]].rename(columns={"churned": "label"})
    labels = labels.reset_index(drop=True)
    extra = log.iloc[1::3][["request_id", "churned"]].rename(columns={"churned": "label"})
    corrected = extra.head(200).assign(label=lambda f: 1 - f["label"])  # first a wrong label ...
    labels = pd.concat([labels, corrected, extra], ignore_index=True)  # ... then the right one
    path = tmp_path_factory.mktemp("labels") / "labels.csv"
    labels.to_csv(path, index=False)
    return path, log


SQL = SqlSettings(uri_env="MONITOR_TEST_DB")


def run(reference: Path, data: str, **kw: Any) -> dict[str, Any]:
    job = MonitorJob(data=data, reference_profile=str(reference), window="1d", **kw)
    doc = run_monitor(job, sql=SQL).document
    doc.pop("generated_at")
    return doc


def test_realized_metrics_are_the_registrys_on_the_joined_rows(
    reference: tuple[ReferenceProfile, Path], shifted_log: Path, labelled: tuple[Path, pd.DataFrame]
) -> None:
    labels, log = labelled
    doc = run(reference[1], str(shifted_log), labels=str(labels))
    assert doc["realized_metrics"] == CLASSIFICATION == ["accuracy", "f1_macro", "roc_auc", "log_loss"]
    assert doc["labels"] == {"rows": len(pd.read_csv(labels)), "joined_by": "request_id"}
    day = log[log["served_at"].dt.day == 5]
    judged = day.iloc[[i for i in range(len(day)) if (day.index[i] % 3) in (0, 1)]]
    window = doc["windows"][4]
    assert window["start"].startswith("2026-03-05")
    expected = {
        "accuracy": skm.accuracy_score(judged["churned"], judged["prediction"]),
        "f1_macro": skm.f1_score(judged["churned"], judged["prediction"], average="macro"),
        "roc_auc": skm.roc_auc_score(judged["churned"], judged["probability_1"]),
        "log_loss": skm.log_loss(judged["churned"], judged[["probability_0", "probability_1"]]),
    }
    assert window["realized"]["labeled_rows"] == len(judged)
    assert window["realized"].keys() == {"labeled_rows", *expected}
    for name, value in expected.items():
        assert window["realized"][name] == pytest.approx(value, abs=1e-12), name


def test_labels_beyond_memory_are_joined_through_disk_partitions_with_the_same_result(
    reference: tuple[ReferenceProfile, Path], shifted_log: Path, labelled: tuple[Path, pd.DataFrame]
) -> None:
    labels, _ = labelled
    in_memory = run(reference[1], str(shifted_log), labels=str(labels))
    spilled = run(reference[1], str(shifted_log), labels=str(labels), label_memory_rows=700, batch_rows=900)
    assert all(w["realized"]["labeled_rows"] > 600 for w in spilled["windows"])
    synthetic.assert_same_document(in_memory, spilled)


def test_data_and_labels_from_sql_give_the_files_document(
    reference: tuple[ReferenceProfile, Path],
    shifted_log: Path,
    labelled: tuple[Path, pd.DataFrame],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    labels, log = labelled
    database = tmp_path / "logs.db"
    with sqlite3.connect(database) as conn:
        log.to_sql("prediction_logs", conn, index=False)
        pd.read_csv(labels).rename(columns={"label": "outcome"}).to_sql("outcomes", conn, index=False)
    monkeypatch.setenv("MONITOR_TEST_DB", f"sqlite:///{database}")
    from_files = run(reference[1], str(shifted_log), labels=str(labels))
    from_sql = run(
        reference[1],
        "sql://prediction_logs",
        labels="SELECT request_id, outcome AS label FROM outcomes",
        batch_rows=4_000,
    )
    assert from_sql.pop("data") == "sql://prediction_logs"
    from_files.pop("data")
    synthetic.assert_same_document(from_files, from_sql)


def test_sql_errors_are_one_line_without_the_password(
    reference: tuple[ReferenceProfile, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MONITOR_TEST_DB", "postgresql+psycopg://monitor:s3cret-pw@127.0.0.1:9/logs")
    with pytest.raises(MmpError) as error:
        run(reference[1], "sql://prediction_logs")
    assert str(error.value).startswith("--data sql://prediction_logs failed") and "s3cret" not in str(
        error.value
    )
    monkeypatch.setenv("MONITOR_TEST_DB", "postgresql+nosuchdriver://monitor:s3cret-pw@127.0.0.1:9/logs")
    with pytest.raises(MmpError) as error:
        run(reference[1], "sql://prediction_logs")
    assert "monitor:***@127.0.0.1" in str(error.value) and "s3cret" not in str(error.value)
    with pytest.raises(MmpError, match="not a table name"):
        run(reference[1], "sql://logs; drop table x")
    monkeypatch.delenv("MONITOR_TEST_DB")
    with pytest.raises(MmpError, match="MONITOR_TEST_DB"):
        run(reference[1], "SELECT * FROM prediction_logs")


@pytest.mark.slow
def test_log_records_each_windows_scores_in_a_run_linked_to_the_model_version(
    trained: dict[str, TrainedExample], tmp_path: Path
) -> None:
    """A perfect classifier's log over three days: every window's drift and realized metrics are
    metrics of one MLflow run (step = window, timestamp = window start), tagged with the version."""
    from mlflow import MlflowClient

    from mmp.recipe.loader import load_config

    example = trained["breast_cancer"]
    frame = pd.read_csv(example.data_path)
    frame["served_at"] = pd.Timestamp("2026-03-01", tz="UTC") + pd.to_timedelta(
        np.arange(len(frame)) % 3, unit="D"
    )
    frame["prediction"] = frame["diagnosis"]
    for level in ("benign", "malignant"):
        frame[f"probability_{level}"] = (frame["diagnosis"] == level).astype(float)
    data = tmp_path / "scored.parquet"
    frame.drop(columns=["diagnosis"]).to_parquet(data)
    labels = tmp_path / "labels.csv"
    frame[["patient_id", "diagnosis"]].rename(columns={"diagnosis": "label"}).to_csv(labels, index=False)
    config_path = tmp_path / "config.yaml"
    config_path.write_text(
        f"mlflow:\n  tracking_uri: {example.tracking_uri}\n  experiment: monitor-log-test\n"
        f"  artifact_location: {tmp_path / 'artifacts'}\n"
    )
    settings = load_config(config_path).model.mlflow
    job = MonitorJob(
        data=str(data), model_uri=example.registered_uri, labels=str(labels), window="1d", log=True
    )
    outcome = run_monitor(job, settings)
    run_id = outcome.mlflow_run_id
    assert run_id is not None and outcome.document["mlflow_run_id"] == run_id

    client = MlflowClient(example.tracking_uri)
    run_ = client.get_run(run_id)
    assert run_.info.status == "FINISHED"
    assert run_.data.tags["mmp.kind"] == "monitor"
    assert run_.data.tags["mmp.monitor.model_version"] == "1"
    assert run_.data.tags["mmp.monitor.model_run_id"] == example.run_id
    assert run_.data.tags["mmp.monitor.status"] == outcome.document["status"]
    version = client.get_model_version("breast_cancer", "1")
    assert version.tags["mmp.monitor.last_run"] == run_id

    windows = outcome.document["windows"]
    assert len(windows) == 3
    keys = ["rows", "drift_share", "realized.accuracy", "realized.f1_macro", "realized.roc_auc"]
    keys += ["estimated.accuracy", "psi.mean_radius", "distance.mean_radius", "psi.prediction"]
    for key in keys:
        history = sorted(client.get_metric_history(run_id, key), key=lambda m: m.step)
        assert [m.step for m in history] == [0, 1, 2], key
        starts = [pd.Timestamp(w["start"]).value // 1_000_000 for w in windows]
        assert [m.timestamp for m in history] == starts, key
    accuracy = client.get_metric_history(run_id, "realized.accuracy")
    assert [m.value for m in accuracy] == [1.0, 1.0, 1.0]
    rows = sorted(client.get_metric_history(run_id, "rows"), key=lambda m: m.step)
    assert [m.value for m in rows] == [w["rows"] for w in windows] and sum(m.value for m in rows) == len(
        frame
    )


def test_key_hash_and_index_find_exactly_the_labelled_keys() -> None:
    import pyarrow as pa

    from mmp.monitoring.realized import _KeyIndex, key_hash

    keys = pa.array([f"req-{i}" for i in range(5_000)] + ["", "é€"])
    hashes = key_hash(keys)
    assert len(set(hashes.tolist())) == len(keys)  # distinct keys, distinct hashes
    assert (key_hash(keys.slice(10, 5)) == hashes[10:15]).all()  # a slice hashes like a copy
    assert (key_hash(pa.array(keys.to_pylist()[10:15], pa.large_string())) == hashes[10:15]).all()
    index = _KeyIndex(keys.slice(0, 4_000))
    probe = pa.array(["req-3999", None, "req-4000", "req-7", "", "nope"])
    hit, rows = index.lookup(probe)
    assert hit.tolist() == [0, 3] and rows.tolist() == [3999, 7]


@pytest.mark.slow
def test_postgresql_log_and_labels_give_the_files_document(
    reference: tuple[ReferenceProfile, Path],
    shifted_log: Path,
    labelled: tuple[Path, pd.DataFrame],
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A real server: timestamps with time zones, a schema-qualified table, a server-side cursor."""
    import sqlalchemy as sa

    labels, log = labelled
    engine = sa.create_engine(postgres_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE SCHEMA IF NOT EXISTS serving"))
        log.to_sql("prediction_logs", engine, schema="serving", index=False, if_exists="replace")
        pd.read_csv(labels).to_sql("labels", engine, index=False, if_exists="replace")
    finally:
        engine.dispose()
    monkeypatch.setenv("MONITOR_TEST_DB", postgres_url)
    from_files = run(reference[1], str(shifted_log), labels=str(labels))
    from_sql = run(
        reference[1], "sql://serving.prediction_logs", labels="SELECT * FROM labels", batch_rows=5_000
    )
    from_sql.pop("data"), from_files.pop("data")
    synthetic.assert_same_document(from_files, from_sql)
