"""Training every example recipe into a real MLflow store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, TrainedExample


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_trains_and_logs_everything(name: str, trained: dict[str, TrainedExample]) -> None:
    import mlflow

    example = trained[name]
    client = mlflow.MlflowClient(example.tracking_uri)
    run = client.get_run(example.run_id)
    assert run.data.params["task"]
    assert any(k.startswith("test_") for k in run.data.metrics)
    artifacts = {a.path for a in client.list_artifacts(example.run_id)}
    assert {"feature_contract.json", "recipe.yaml", "config.yaml", "data_fingerprint.json"} <= artifacts
    local = client.download_artifacts(example.run_id, "feature_contract.json")
    contract = json.loads(Path(local).read_text())
    roles = {c["name"]: c["role"] for c in contract["columns"]}
    assert "target" in roles.values()
    assert contract["target_column"] not in contract["model_input_columns"]
