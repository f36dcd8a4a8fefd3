"""Model failures, unscorable input and timeouts: safe messages, right statuses, request ids logged."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tests.conftest import NewStore, write_config
from tests.serving.conftest import assert_error, example_body

RECIPE = """
name: fragile
task: regression
seed: 1
model:
  class_path: tests.serving.fragile.FragileRegressor
data:
  source: {data}
  data_interface:
    entity_columns: [row_id]
    target_column: y
    categorical_columns: [code]
  split: {{train: 0.8, validation: 0.1, test: 0.1}}
preprocessing:
  categorical:
    - type: one_hot_encoder
      params: {{handle_unknown: error}}
evaluation:
  metrics: [rmse]
"""


@pytest.fixture(scope="module")
def fragile_model(tmp_path_factory: pytest.TempPathFactory, new_store: NewStore) -> Any:
    """A model whose estimator crashes on huge values and whose encoder refuses unseen codes.

    `code` has 400 levels, more than the contract lists, so the request schema cannot enumerate
    them and an unseen code reaches the pipeline."""
    from mmp.core.model_store import load_model
    from mmp.pipelines.train import train
    from mmp.recipe.loader import load_config, load_recipe

    folder = tmp_path_factory.mktemp("fragile")
    rng = np.random.default_rng(0)
    n = 2000
    frame = pd.DataFrame(
        {
            "row_id": np.arange(n),
            "x": rng.normal(size=n),
            "code": [f"c{i % 400:03d}" for i in range(n)],
        }
    )
    frame["y"] = 3 * frame["x"] + rng.normal(scale=0.1, size=n)
    data = folder / "fragile.csv"
    frame.to_csv(data, index=False)
    recipe = folder / "fragile.yaml"
    recipe.write_text(RECIPE.format(data=data), encoding="utf-8")
    uri = new_store(folder)
    result = train(load_recipe(recipe), load_config(write_config(folder, uri)), None, register_as=None)
    return load_model(result.model_uri, uri)


@pytest.fixture
def fragile(fragile_model: Any) -> Any:
    from fastapi.testclient import TestClient

    from mmp.serving.app import create_app
    from mmp.serving.settings import ServeSettings

    settings = ServeSettings(model_uri=fragile_model.identity.model_uri)
    with TestClient(create_app(settings, loaded=fragile_model), raise_server_exceptions=False) as client:
        yield client


def test_the_contract_could_not_enumerate_the_codes(fragile_model: Any) -> None:
    assert fragile_model.contract.column("code").categories_truncated


def test_a_model_crash_is_a_safe_500_logged_with_the_request_id(
    fragile: Any, caplog: pytest.LogCaptureFixture
) -> None:
    body = {**example_body(fragile), "x": 5e9}
    with caplog.at_level(logging.ERROR, logger="mmp.serving"):
        response = fragile.post("/predict", json=body, headers={"X-Request-ID": "crash-1"})
    error = assert_error(response, 500, "model_error")
    assert "crash-1" in error["message"]
    assert "secret" not in response.text and "RuntimeError" not in response.text
    assert any("crash-1" in r.getMessage() and r.exc_info for r in caplog.records)
    # the server keeps serving
    assert fragile.post("/predict", json=example_body(fragile)).status_code == 200


def test_one_crashing_record_in_a_batch_is_a_500_too(fragile: Any) -> None:
    good = example_body(fragile)
    response = fragile.post("/predict/batch", json={"records": [good, {**good, "x": -7e9}]})
    assert_error(response, 500, "model_error")


def test_a_value_the_pipeline_rejects_is_a_422_naming_the_record(fragile: Any) -> None:
    good = example_body(fragile)
    unseen = {**good, "code": "never-seen"}
    error = assert_error(fragile.post("/predict", json=unseen), 422, "unscorable_input")
    assert "unknown categor" in error["message"].lower()
    records = [good] * 7 + [unseen] + [good] * 4
    error = assert_error(fragile.post("/predict/batch", json={"records": records}), 422, "unscorable_input")
    assert error["fields"][0]["field"] == "records.7"


def test_concurrent_neighbours_of_a_bad_record_are_still_scored(fragile: Any) -> None:
    from concurrent.futures import ThreadPoolExecutor

    good = example_body(fragile)
    bodies = [good] * 20 + [{**good, "code": "never-seen"}] + [good] * 20
    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(lambda b: fragile.post("/predict", json=b).status_code, bodies))
    assert statuses.count(422) == 1
    assert statuses.count(200) == 40


def test_a_slow_request_is_a_504(serve: Any) -> None:
    # A 200-tree forest takes several ms per call: far beyond a 1 ms budget.
    with serve("breast_cancer") as client:
        body = example_body(client)
    with serve("breast_cancer", request_timeout_s=0.001) as client:
        error = assert_error(client.post("/predict", json=body), 504, "timeout")
        assert "0.001s" in error["message"]
        assert_error(client.post("/predict/batch", json={"records": [body] * 50}), 504, "timeout")


def test_local_paths_are_not_leaked_by_the_model_route(fragile: Any, fragile_model: Any) -> None:
    text = fragile.get("/model").text
    assert str(Path(fragile_model.path)) not in text
