"""The prediction log and `POST /labels` in the real server: what is served is what is logged."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import mlflow
import pyarrow.dataset as ds
import pytest

from mmp.monitoring.run import MonitorJob, run_monitor
from tests.conftest import TrainedExample
from tests.ports import free_port
from tests.serving.test_server_process import _ready

pytestmark = pytest.mark.slow

BODY = {"patient_id": 1, "age": 59.0, "sex": 2.0, "bmi": 32.1, "bp": 101.0, "s1": 157.0,
        "s2": 93.2, "s3": 38.0, "s4": 4.0, "s5": 4.8598, "s6": 87.0}  # fmt: skip


def test_in_process_log_labels_and_a_full_queue_counted(
    trained: dict[str, TrainedExample], tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient

    from mmp.core.model_store import load_model
    from mmp.recipe.config import PredictionLogSettings
    from mmp.serving.app import create_app
    from mmp.serving.settings import ServeSettings

    example = trained["breast_cancer"]
    loaded = load_model(example.registered_uri, example.tracking_uri)
    log = PredictionLogSettings(
        enabled=True, path=str(tmp_path / "log"), queue_records=3, flush_interval_s=60
    )
    settings = ServeSettings(
        model_uri=example.registered_uri, tracking_uri=example.tracking_uri, prediction_log=log
    )
    import pandas as pd

    rows = pd.read_csv(example.data_path).drop(columns=[loaded.contract.target_column]).head(5)
    records = json.loads(rows.to_json(orient="records"))
    with TestClient(create_app(settings, loaded=loaded)) as client:
        for i, record in enumerate(records):
            assert client.post("/predict", json=record, headers={"x-request-id": f"q{i}"}).status_code == 200
        metrics = client.get("/metrics").text
        assert "mmp_prediction_log_dropped_total 2.0" in metrics  # queue of 3 records, 5 served
        bad = client.post("/labels", json={"labels": [{"request_id": "q0", "label": "benign?"}]})
        assert bad.status_code == 422 and bad.json()["error"]["fields"][0]["field"] == "labels.0.label"
        classes = loaded.contract.classes or []
        good = client.post("/labels", json={"labels": [{"request_id": "q0", "label": classes[0]}]})
        assert good.status_code == 200 and good.json() == {"accepted": 1}
    # leaving the client is a clean shutdown: the 3 queued records are flushed
    back = ds.dataset(tmp_path / "log", partitioning="hive").to_table()
    assert sorted(back["request_id"].to_pylist()) == ["q0", "q1", "q2"]
    assert (tmp_path / "labels").is_dir()

    off = ServeSettings(model_uri=example.registered_uri, tracking_uri=example.tracking_uri)
    with TestClient(create_app(off, loaded=loaded)) as client:
        answer = client.post("/labels", json={"labels": [{"request_id": "q0", "label": classes[0]}]})
        assert answer.status_code == 409 and answer.json()["error"]["code"] == "labels_disabled"


def test_two_workers_a_hot_reload_and_sigterm_lose_nothing(
    trained: dict[str, TrainedExample],
    session_store: tuple[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tracking_uri, _ = session_store
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)  # the tracking rule, for run_monitor below
    example = trained["diabetes"]
    client = mlflow.MlflowClient(tracking_uri)
    name = "diabetes_logged"
    source = client.get_model_version(example.name, "1").source
    client.create_registered_model(name)
    v1 = client.create_model_version(name, source).version
    v2 = client.create_model_version(name, source).version
    client.set_registered_model_alias(name, "champion", v1)
    log_dir, labels_dir = tmp_path / "log", tmp_path / "labels"
    config = tmp_path / "config.yaml"
    config.write_text(
        f"mlflow:\n  tracking_uri: {tracking_uri}\n  experiment: session\n"
        f"serving:\n  reload_interval_s: 0.5\n  prediction_log:\n    enabled: true\n"
        f"    path: {log_dir}\n    flush_interval_s: 0.2\n",
        encoding="utf-8",
    )
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mmp.cli.main",
            "serve-api",
            "-m",
            f"models:/{name}@champion",
            "-c",
            str(config),
            "--workers",
            "2",
            "--port",
            str(port),
        ],
        env={k: v for k, v in os.environ.items() if not k.startswith(("MMP_", "MLFLOW_"))},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    served: dict[str, str] = {}  # request id -> version that answered
    try:
        _ready(port, process)
        url = f"http://127.0.0.1:{port}"
        pids: set[int] = set()
        deadline = time.monotonic() + 120
        while len(pids) < 2 and time.monotonic() < deadline:  # new connections spread over workers
            answer = httpx.get(f"{url}/ready", timeout=5)
            if answer.status_code == 200:
                pids.add(answer.json()["pid"])
            time.sleep(0.01)
        assert len(pids) == 2, "only one worker ever became ready"

        def predict(i: int) -> str:
            answer = httpx.post(f"{url}/predict", json=BODY, headers={"x-request-id": f"p{i}"}, timeout=10)
            assert answer.status_code == 200, answer.text
            served[f"p{i}"] = answer.json()["model"]["version"]
            return served[f"p{i}"]

        for i in range(30):
            predict(i)
        batch = httpx.post(
            f"{url}/predict/batch", json={"records": [BODY] * 5}, headers={"x-request-id": "b"}
        )
        assert batch.status_code == 200
        served.update({f"b/{k}": batch.json()["model"]["version"] for k in range(5)})
        client.set_registered_model_alias(name, "champion", v2)
        i, deadline, after = 30, time.monotonic() + 60, 0
        while after < 20 and time.monotonic() < deadline:  # until both workers answered with v2 for a while
            after += predict(i) == str(v2)
            i += 1
        labels = [{"request_id": rid, "label": 100.0 + k} for k, rid in enumerate(list(served)[:12])]
        assert httpx.post(f"{url}/labels", json={"labels": labels}).json() == {"accepted": 12}
        wrong = httpx.post(f"{url}/labels", json={"labels": [{"request_id": "p1", "label": "high"}]})
        assert wrong.status_code == 422
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)
        if process.stdout:
            process.stdout.close()
    logged = ds.dataset(log_dir, partitioning=ds.partitioning(flavor="hive")).to_table().to_pandas()
    assert len(logged) == len(served)  # SIGTERM: everything served was flushed
    assert dict(zip(logged["request_id"], logged["model_version"].astype(str), strict=True)) == served
    assert {str(v1), str(v2)} <= set(served.values())
    assert logged["age"].eq(BODY["age"]).all() and logged["prediction"].notna().all()
    doc = run_monitor(
        MonitorJob(data=str(log_dir), model_uri=example.registered_uri, labels=str(labels_dir))
    ).document
    assert sum(w["rows"] for w in doc["windows"]) == len(served)
    assert sum((w["realized"] or {}).get("labeled_rows", 0) for w in doc["windows"]) == 12
