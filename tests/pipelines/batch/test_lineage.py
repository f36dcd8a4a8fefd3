"""`--log-run`: the job is an MLflow run with the model, input fingerprint, counts and output."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.pipelines.batch.conftest import Batch


def test_log_run_records_the_job(batch: Batch, tmp_path: Path) -> None:
    import mlflow

    frame = batch.frame("diabetes").astype({"bmi": object})
    frame.loc[3, "bmi"] = "?"
    source = tmp_path / "in.csv"
    frame.to_csv(source, index=False)
    out = tmp_path / "p.parquet"
    result = batch.run("diabetes", source, out, on_error="skip", log_run=True)
    assert result.lineage_run_id
    run = mlflow.MlflowClient(batch.trained["diabetes"].tracking_uri).get_run(result.lineage_run_id)
    assert run.data.tags["mmp.kind"] == "batch-inference"
    assert run.data.tags["mmp.model.run_id"] == batch.trained["diabetes"].run_id
    assert run.data.tags["mmp.model.version"] == "1"
    expected_sha = hashlib.sha256(b"in.csv\0" + source.read_bytes()).hexdigest()
    assert run.data.tags["mmp.input.sha256"] == expected_sha
    assert run.data.params["output"] == str(out)
    assert run.data.params["rejects"] == str(tmp_path / "p.rejects.csv")
    assert run.data.metrics["rows_read"] == len(frame)
    assert run.data.metrics["rows_rejected"] == 1
    assert run.data.metrics["rows_scored"] == len(frame) - 1
    local = mlflow.MlflowClient(batch.trained["diabetes"].tracking_uri).download_artifacts(
        result.lineage_run_id, "batch_summary.json", str(tmp_path)
    )
    summary = json.loads(Path(local).read_text())
    assert summary["input_fingerprint"]["sha256"] == expected_sha
    assert summary["model"]["name"] == "diabetes"


def test_log_run_of_a_sql_job_hides_the_password(
    batch: Batch, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow
    import sqlalchemy as sa

    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        batch.frame("diabetes").to_sql("patients", conn, index=False)
    engine.dispose()
    monkeypatch.setenv("MMP_DATABASE_URL", url)
    result = batch.run("diabetes", "SELECT * FROM patients", "sql://scores", log_run=True)
    run = mlflow.MlflowClient(batch.trained["diabetes"].tracking_uri).get_run(result.lineage_run_id)
    assert run.data.params["input"] == "inline SQL query"
    assert run.data.params["input_kind"] == "sql"
    assert run.data.params["output"] == "sql://scores"
    assert "sqlite" not in json.dumps(run.data.params)
