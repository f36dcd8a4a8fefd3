"""Following a registry alias: a moved alias is picked up without restart; a broken version is not."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DATA, RECIPES
from tests.serving.conftest import example_body, wait_ready

NAME = "diab"


def _train(
    config_path: Path, recipe_path: Path = RECIPES / "diabetes.yaml", data: Path = DATA / "diabetes.csv"
) -> str:
    from mmp.pipelines.train import train
    from mmp.recipe.loader import load_config, load_recipe

    result = train(load_recipe(recipe_path), load_config(config_path), str(data), register_as=NAME)
    assert result.registered_version is not None
    return result.registered_version


def _register_a_model_mmp_did_not_train(tracking_uri: str) -> str:
    import mlflow
    from sklearn.dummy import DummyRegressor

    mlflow.set_tracking_uri(tracking_uri)
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(DummyRegressor().fit([[0.0]], [1.0]), name="model")
    return str(mlflow.register_model(info.model_uri, NAME).version)


def _set_alias(tracking_uri: str, version: str) -> None:
    import mlflow

    mlflow.MlflowClient(tracking_uri).set_registered_model_alias(NAME, "champion", version)


def _wait_for(condition: Any, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def _metric(text: str, sample: str) -> float:
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_alias_moves_are_followed_and_broken_versions_skipped(
    mlflow_store: tuple[str, Path], tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient

    from mmp.serving.app import create_app
    from mmp.serving.settings import ServeSettings

    tracking_uri, config_path = mlflow_store
    v1 = _train(config_path)
    v2 = _train(config_path)
    _set_alias(tracking_uri, v1)
    settings = ServeSettings(
        model_uri=f"models:/{NAME}@champion", tracking_uri=tracking_uri, reload_interval_s=0.2
    )
    with TestClient(create_app(settings)) as client:
        assert wait_ready(client)["model"]["version"] == v1
        body = example_body(client)
        assert client.post("/predict", json=body).json()["model"]["version"] == v1

        _set_alias(tracking_uri, v2)
        _wait_for(lambda: client.get("/model").json()["version"] == v2)
        answered = client.post("/predict", json=body)
        assert answered.json()["model"]["version"] == v2
        assert answered.headers["x-model-version"] == v2
        assert client.get("/model").json()["model_uri"] == f"models:/{NAME}@champion"

        broken = _register_a_model_mmp_did_not_train(tracking_uri)
        _set_alias(tracking_uri, broken)
        _wait_for(
            lambda: (
                _metric(
                    client.get("/metrics").text,
                    f'mmp_model_events_total{{event="reload_failed",model_version="{broken}"}}',
                )
                >= 1
            )
        )
        assert client.get("/model").json()["version"] == v2
        assert client.post("/predict", json=body).json()["model"]["version"] == v2
        metrics = client.get("/metrics").text
        assert _metric(metrics, f'mmp_model_events_total{{event="reload",model_version="{v2}"}}') == 1
        assert f'mmp_model_info{{name="{NAME}",run_id=' in metrics


def test_a_version_with_a_different_schema_is_not_swapped_in(
    mlflow_store: tuple[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from mmp.core.model_store import load_model
    from mmp.serving.metrics import ServingMetrics
    from mmp.serving.runtime import ModelHolder
    from mmp.serving.settings import ServeSettings

    tracking_uri, config_path = mlflow_store
    v1 = _train(config_path)
    # The same data without `sex` declared categorical: a different request schema.
    recipe = (RECIPES / "diabetes.yaml").read_text(encoding="utf-8")
    changed = tmp_path / "diabetes_numeric.yaml"
    changed.write_text(recipe.replace("    categorical_columns: [sex]\n", ""), encoding="utf-8")
    v2 = _train(config_path, changed)
    _set_alias(tracking_uri, v1)
    settings = ServeSettings(model_uri=f"models:/{NAME}@champion", tracking_uri=tracking_uri)
    holder = ModelHolder(settings, ServingMetrics())
    holder.load_initial()
    assert holder.check_for_update() == "unchanged"
    _set_alias(tracking_uri, v2)
    assert holder.check_for_update() == "failed"
    assert "request schema differs" in caplog.text
    assert holder.current is not None and holder.current.loaded.identity.version == v1
    assert holder.check_for_update() == "skipped"  # not retried on every poll
    assert load_model(f"models:/{NAME}/{v2}", tracking_uri).contract.column("sex").categorical is False


def test_latest_names_the_real_version_and_follows_new_registrations(
    mlflow_store: tuple[str, Path], tmp_path: Path
) -> None:
    """After a hot reload, /model reports the new version's contract, not the first one's."""
    from fastapi.testclient import TestClient

    from mmp.core.model_store import load_model
    from mmp.serving.app import create_app
    from mmp.serving.settings import ServeSettings

    tracking_uri, config_path = mlflow_store
    v1 = _train(config_path)
    settings = ServeSettings(
        model_uri=f"models:/{NAME}/latest", tracking_uri=tracking_uri, reload_interval_s=0.2
    )
    with TestClient(create_app(settings)) as client:
        assert wait_ready(client)["model"]["version"] == v1
        first = client.get("/model").json()["contract"]
        subset = tmp_path / "diabetes_head.csv"  # same columns and levels, other ranges
        lines = (DATA / "diabetes.csv").read_text(encoding="utf-8").splitlines(keepends=True)
        subset.write_text("".join(lines[:201]), encoding="utf-8")
        v2 = _train(config_path, data=subset)
        _wait_for(lambda: client.get("/model").json()["version"] == v2)
        info = client.get("/model").json()
        assert info["model_uri"] == f"models:/{NAME}/latest"
        expected = load_model(f"models:/{NAME}/{v2}", tracking_uri).contract.model_dump(mode="json")
        assert info["contract"] == expected != first
        answered = client.post("/predict", json=example_body(client))
        assert answered.headers["x-model-version"] == v2 == answered.json()["model"]["version"]


def test_served_models_stay_out_of_full_collections_and_a_replaced_one_is_freed(
    mlflow_store: tuple[str, Path],
) -> None:
    """After each swap the live heap is frozen (mmp.core.heap): a full collection never walks the
    model or the libraries. A reload collects first, and nothing else holds the replaced model (the
    scoring caches hold their owners weakly), so it is freed even when only the cyclic collector can
    free it."""
    import gc
    import weakref

    from mmp.serving.metrics import ServingMetrics
    from mmp.serving.runtime import ModelHolder
    from mmp.serving.settings import ServeSettings

    tracking_uri, config_path = mlflow_store
    v1, v2 = _train(config_path), _train(config_path)
    _set_alias(tracking_uri, v1)
    settings = ServeSettings(model_uri=f"models:/{NAME}@champion", tracking_uri=tracking_uri)
    holder = ModelHolder(settings, ServingMetrics())
    try:
        first = holder.load_initial().loaded.pipeline  # warmed: the scoring caches have seen it
        assert not any(o is first for o in gc.get_objects()), "the served pipeline is frozen"
        first.mmp_test_cycle = first  # a reference cycle: reference counting alone never frees it
        replaced = weakref.ref(first)
        del first
        _set_alias(tracking_uri, v2)
        assert holder.check_for_update() == "reloaded"
        assert replaced() is None, "the replaced model is freed at the reload"
        assert holder.current is not None
        second = holder.current.loaded.pipeline
        assert not any(o is second for o in gc.get_objects()), "the new pipeline is frozen"
    finally:
        gc.unfreeze()
