"""The API for each example model: predict, batch, model, health/ready, metrics, stats."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pandas as pd
import pytest

from tests.conftest import EXAMPLES, TrainedExample
from tests.serving.conftest import assert_error, example_body, wait_ready


@pytest.mark.parametrize("name", EXAMPLES)
def test_predict_answers_like_the_pipeline(name: str, serve: Any, loaded_models: dict[str, Any]) -> None:
    from mmp.core.scoring import model_input, predict

    loaded = loaded_models[name]
    with serve(name) as client:
        body = example_body(client)
        response = client.post("/predict", json=body)
        assert response.status_code == 200, response.text
        result = response.json()
    frame = model_input(loaded.contract, pd.DataFrame([body]))
    expected = predict(loaded.pipeline, loaded.contract, frame)
    assert result["prediction"] == expected.values.tolist()[0]
    assert result["model"] == {"name": name, "version": "1", "run_id": loaded.identity.run_id}
    assert response.headers["x-model-version"] == "1"
    assert result["entities"] == {c: body[c] for c in loaded.contract.entity_columns}
    if loaded.contract.task == "classification":
        probabilities = result["probabilities"]
        assert set(probabilities) == {str(c) for c in loaded.contract.classes}
        assert sum(probabilities.values()) == pytest.approx(1.0)
        assert probabilities == dict(
            zip([str(c) for c in expected.classes], expected.probabilities[0].tolist(), strict=True)
        )
    else:
        assert "probabilities" not in result


def test_batch_returns_one_result_per_record_in_order(
    serve: Any, trained: dict[str, TrainedExample], loaded_models: dict[str, Any]
) -> None:
    from mmp.core.scoring import model_input

    loaded = loaded_models["breast_cancer"]
    rows = pd.read_csv(trained["breast_cancer"].data_path).head(25)
    records = json.loads(rows.drop(columns=["diagnosis"]).to_json(orient="records"))
    with serve("breast_cancer") as client:
        response = client.post("/predict/batch", json={"records": records})
    assert response.status_code == 200, response.text
    body = response.json()
    expected = loaded.pipeline.predict(model_input(loaded.contract, rows)).tolist()
    assert [p["prediction"] for p in body["predictions"]] == expected
    assert [p["entities"]["patient_id"] for p in body["predictions"]] == rows["patient_id"].tolist()
    assert body["model"]["version"] == "1"


def test_health_and_ready_before_and_after_loading(serve: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    import mmp.serving.runtime as runtime

    release = threading.Event()  # the pipeline load waits for it, so "still loading" is certain
    real_load = runtime.load_model

    def gated_load(*args: Any, **kwargs: Any) -> Any:
        release.wait(60)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(runtime, "load_model", gated_load)
    with serve("diabetes", preload=False) as client:
        try:
            assert client.get("/health").json()["status"] == "ok"
            body = example_body(client)  # the routes are typed from the model's card before it loads
            assert_error(client.get("/ready"), 503, "not_ready")
            assert_error(client.post("/predict", json=body), 503, "not_ready")
        finally:
            release.set()
        ready = wait_ready(client)
        assert ready["status"] == "ready"
        assert ready["model"]["name"] == "diabetes" and ready["model"]["version"] == "1"
        assert client.post("/predict", json=example_body(client)).status_code == 200


def test_a_model_that_does_not_exist_is_one_error_before_the_app_exists(mlflow_store: Any) -> None:
    from mmp.core.errors import MmpError
    from mmp.serving.app import create_app
    from mmp.serving.settings import ServeSettings

    tracking_uri, _ = mlflow_store
    settings = ServeSettings(model_uri="models:/nothing-here/3", tracking_uri=tracking_uri)
    with pytest.raises(MmpError, match="nothing-here"):
        create_app(settings)


def test_a_pipeline_that_cannot_be_loaded_keeps_ready_at_503_with_the_reason(
    trained: dict[str, TrainedExample], tmp_path: Any
) -> None:
    from fastapi.testclient import TestClient

    from mmp.core.model_store import export_model
    from mmp.serving.app import create_app
    from mmp.serving.settings import ServeSettings

    example = trained["diabetes"]
    folder = export_model(example.registered_uri, tmp_path / "exported", example.tracking_uri)
    (folder / "model.pkl").write_bytes(b"not a pickle")  # the card is fine, the pipeline is not
    failures: list[str] = []
    settings = ServeSettings(model_uri=str(folder))
    with TestClient(create_app(settings, on_load_failure=failures.append)) as client:
        body = example_body(client)
        deadline = time.monotonic() + 60
        while not failures and time.monotonic() < deadline:
            time.sleep(0.05)
        assert_error(client.get("/ready"), 503, "model_load_failed")
        assert_error(client.post("/predict", json=body), 503, "not_ready")
        assert client.get("/health").status_code == 200
    assert failures


def test_model_endpoint_shows_identity_metrics_and_contract_but_no_secrets(
    serve: Any, trained: dict[str, TrainedExample]
) -> None:
    with serve("retail_sell_through") as client:
        info = client.get("/model").json()
    assert info["name"] == "retail_sell_through"
    assert info["version"] == "1"
    assert info["run_id"] == trained["retail_sell_through"].run_id
    assert info["task"] == "timeseries"
    assert info["trained_at"]
    assert any(k.startswith("test_") for k in info["metrics"])
    assert info["contract"]["target_column"] == "units_sold"
    assert info["contract"]["model_input_columns"][-1] == "week_start"
    text = json.dumps(info)
    assert "sqlite" not in text and "tracking" not in text and "select " not in text.lower()


def test_request_id_is_echoed_when_sane_and_generated_otherwise(serve: Any) -> None:
    with serve("diabetes") as client:
        assert client.get("/health", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
        generated = client.get("/health", headers={"X-Request-ID": "bad id\twith spaces"}).headers[
            "x-request-id"
        ]
        assert generated != "bad id\twith spaces" and len(generated) == 32
        error = assert_error(
            client.post("/predict", json={}, headers={"X-Request-ID": "r-42"}), 422, "validation_error"
        )
        assert error["request_id"] == "r-42"


def test_unknown_routes_and_methods_use_the_error_shape(serve: Any) -> None:
    with serve("diabetes") as client:
        assert_error(client.get("/nope"), 404, "not_found")
        assert_error(client.get("/predict"), 405, "method_not_allowed")


def test_concurrent_requests_are_micro_batched(serve: Any, loaded_models: dict[str, Any]) -> None:
    with serve("breast_cancer", micro_batch_max_wait_ms=20) as client:
        body = example_body(client)
        with ThreadPoolExecutor(max_workers=16) as pool:
            responses = list(pool.map(lambda _: client.post("/predict", json=body), range(64)))
        metrics = client.get("/metrics").text
    assert {r.status_code for r in responses} == {200}
    assert len({r.json()["prediction"] for r in responses}) == 1
    grouped = _metric(metrics, 'mmp_inference_batch_size_count{kind="micro_batch"}')
    assert grouped >= 1, "concurrent requests were never grouped"
    singles = _metric(metrics, 'mmp_inference_batch_size_count{kind="single"}')
    calls = grouped + singles
    # 64 requests (plus warm-up-free counting) in fewer pipeline calls than requests
    assert calls < 64


def test_every_predict_request_leaves_the_in_flight_count(serve: Any) -> None:
    """The micro-batcher waits while the server holds /predict requests it has not queued: a request
    that ends any way (200, 422, 401) must leave the count, or every later call would wait out
    max_wait."""
    with serve("diabetes", api_keys=["k"]) as client:
        in_flight = client.app.state.service.in_flight  # type: ignore[attr-defined]
        key = {"X-API-Key": "k"}
        body = example_body(client)
        assert client.post("/predict", json=body, headers=key).status_code == 200
        assert client.post("/predict", json={}, headers=key).status_code == 422
        assert client.post("/predict", json=body).status_code == 401
        assert client.post("/predict/batch", json={"records": [body]}, headers=key).status_code == 200
        assert in_flight.count == 0


def test_micro_batching_can_be_switched_off(serve: Any) -> None:
    with serve("diabetes", micro_batching=False) as client:
        body = example_body(client)
        with ThreadPoolExecutor(max_workers=8) as pool:
            responses = list(pool.map(lambda _: client.post("/predict", json=body), range(16)))
        metrics = client.get("/metrics").text
    assert {r.status_code for r in responses} == {200}
    assert _metric(metrics, 'mmp_inference_batch_size_count{kind="micro_batch"}') == 0
    assert _metric(metrics, 'mmp_inference_batch_size_count{kind="single"}') == 16


def test_metrics_have_fine_buckets_versions_classes_and_field_failures(serve: Any) -> None:
    with serve("breast_cancer") as client:
        body = example_body(client)
        client.post("/predict", json=body)
        bad = {**body, "mean_radius": "large", "diagnosis": "benign"}
        client.post("/predict", json=bad)
        text = client.get("/metrics").text
    assert (
        'mmp_request_duration_seconds_bucket{le="0.0005",method="POST",model_name="breast_cancer",'
        'model_version="1",route="/predict",status="200"}' in text
    )
    for edge in ("0.1", "0.2"):  # the default latency targets sit exactly on bucket edges
        prefix = f'mmp_request_duration_seconds_bucket{{le="{edge}",method="POST",model_name="breast_cancer"'
        assert prefix in text
    assert (
        _metric(text, 'mmp_predictions_total{model_version="1",predicted_class="malignant"}')
        + _metric(text, 'mmp_predictions_total{model_version="1",predicted_class="benign"}')
        == 1
    )
    assert _metric(text, 'mmp_validation_failures_total{field="mean_radius"}') == 1
    assert _metric(text, 'mmp_validation_failures_total{field="diagnosis"}') == 1
    assert _metric(text, 'mmp_model_events_total{event="load",model_version="1"}') == 1
    assert 'mmp_model_info{name="breast_cancer",run_id="' in text


def test_stats_report_percentiles_and_counts(serve: Any) -> None:
    with serve("diabetes") as client:
        body = example_body(client)
        for _ in range(20):
            client.post("/predict", json=body)
        client.post("/predict", json={})
        stats = client.get("/stats").json()
    minute = stats["windows"]["1m"]["routes"]["/predict"]
    assert minute["requests"] == 21
    assert minute["errors_4xx"] == 1
    latency = minute["latency_ms"]
    assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"]
    assert stats["windows"]["15m"]["requests"] >= stats["windows"]["1m"]["requests"]
    assert stats["model"]["version"] == "1"


def _metric(text: str, sample: str) -> float:
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.mark.parametrize("source", ["run", "logged_model", "exported_folder"])
def test_every_kind_of_model_source_is_served(
    source: str, trained: dict[str, TrainedExample], tmp_path: Any
) -> None:
    from fastapi.testclient import TestClient

    from mmp.core.model_ref import ModelRef
    from mmp.core.model_store import export_model
    from mmp.serving.app import create_app
    from mmp.serving.settings import ServeSettings

    example = trained["diabetes"]
    uri = {
        "run": ModelRef.from_options(run_id=example.run_id).uri,
        "logged_model": example.model_uri,
        "exported_folder": None,
    }[source]
    if uri is None:
        folder = export_model(example.registered_uri, tmp_path / "exported", example.tracking_uri)
        uri = ModelRef.from_options(model_uri=str(folder)).uri
    settings = ServeSettings(
        model_uri=uri, tracking_uri=None if source == "exported_folder" else example.tracking_uri
    )
    with TestClient(create_app(settings)) as client:
        ready = wait_ready(client)
        assert ready["model"]["run_id"] == example.run_id
        assert client.post("/predict", json=example_body(client)).status_code == 200


def test_latency_buckets_come_from_the_settings(serve: Any) -> None:
    with serve("breast_cancer", latency_buckets_s=(0.05, 0.1, 0.2)) as client:
        client.post("/predict", json=example_body(client))
        text = client.get("/metrics").text
    edges = {
        line.split('le="', 1)[1].split('"', 1)[0]
        for line in text.splitlines()
        if line.startswith("mmp_request_duration_seconds_bucket{")
    }
    assert edges == {"0.05", "0.1", "0.2", "+Inf"}


def test_container_memory_is_read_from_cgroup_files(tmp_path: Any) -> None:
    from mmp.serving.metrics import container_memory

    assert container_memory(tmp_path) is None  # no cgroup files: nothing reported
    (tmp_path / "memory.current").write_text("1048576\n")
    (tmp_path / "memory.max").write_text("max\n")
    assert container_memory(tmp_path) is None  # no limit: no share to compare against
    (tmp_path / "memory.max").write_text("4194304\n")
    assert container_memory(tmp_path) == (1048576, 4194304)
