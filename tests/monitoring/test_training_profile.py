"""`mmp train` writes the reference profile; `mmp monitor -m` finds it; old models get one from data."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from mmp.core.errors import MmpError
from mmp.monitoring.profile import PROFILE_FILE, ReferenceProfile
from mmp.monitoring.run import MonitorJob, run_monitor
from tests.conftest import TrainedExample


@pytest.mark.slow
def test_training_writes_a_plain_json_profile_that_monitor_uses(
    trained: dict[str, TrainedExample], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    example = trained["breast_cancer"]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", example.tracking_uri)  # the tracking rule, no config
    local = mlflow.artifacts.download_artifacts(
        run_id=example.run_id,
        artifact_path=PROFILE_FILE,
        dst_path=str(tmp_path),
        tracking_uri=example.tracking_uri,
    )
    raw = json.loads(Path(local).read_text())  # readable without mmp
    assert raw["kind"] == "mmp.reference_profile"
    profile = ReferenceProfile.model_validate(raw)
    first = profile.columns[profile.contract.model_input_columns[0]]
    assert first.kind == "numeric" and len(first.counts) == len(first.edges or []) + 1 <= 10
    assert sum(first.counts) + first.missing == first.rows == profile.rows
    assert set(profile.prediction) == {"prediction", "confidence"}
    assert profile.performance.calibration is not None and profile.performance.accuracy is not None

    doc = run_monitor(MonitorJob(data=str(example.data_path), model_uri=example.registered_uri)).document
    assert doc["model"]["version"] == "1" and len(doc["windows"]) == 1
    assert doc["windows"][0]["rows"] == len(pd.read_csv(example.data_path))
    # the training data against its own training split: no drift
    assert doc["windows"][0]["drifted_columns"] == []


@pytest.mark.slow
def test_a_model_without_a_profile_gets_one_from_reference_data(
    trained: dict[str, TrainedExample], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    example = trained["diabetes"]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", example.tracking_uri)  # the tracking rule, no config
    job = MonitorJob(
        data=str(example.data_path), model_uri=example.registered_uri, reference_data=str(example.data_path)
    )
    outcome = run_monitor(job)
    assert outcome.profile is not None and outcome.profile.source == str(example.data_path)
    assert outcome.profile.performance.mae is not None
    assert outcome.document["status"] == "ok"
    with pytest.raises(MmpError, match="needs a model"):
        run_monitor(MonitorJob(data=str(example.data_path)))


@pytest.mark.slow
def test_the_mlmodel_carries_the_profile_as_compact_json_and_older_yaml_profiles_still_read(
    trained: dict[str, TrainedExample], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import yaml

    from mmp.monitoring.profile import profile_from_model

    example = trained["breast_cancer"]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", example.tracking_uri)  # models:/ resolves through it
    model = Path(
        mlflow.artifacts.download_artifacts(
            artifact_uri=example.model_uri,
            dst_path=str(tmp_path / "model"),
            tracking_uri=example.tracking_uri,
        )
    )
    in_run = ReferenceProfile.read(
        mlflow.artifacts.download_artifacts(
            run_id=example.run_id,
            artifact_path=PROFILE_FILE,
            dst_path=str(tmp_path),
            tracking_uri=example.tracking_uri,
        )
    )
    mlmodel = model / "MLmodel"
    text = mlmodel.read_text()
    block = yaml.safe_load(text)["metadata"]["mmp"]
    assert block["reference_profile"] is None
    assert "contract" not in json.loads(block["reference_profile_json"])
    # As nested YAML, the profile (with a second copy of the contract) made this file ~2,000 lines.
    assert len(text.splitlines()) < 600
    assert profile_from_model(model) == in_run

    # A model trained before: the whole profile as nested YAML under `reference_profile`.
    meta = yaml.safe_load(text)
    del meta["metadata"]["mmp"]["reference_profile_json"]
    meta["metadata"]["mmp"]["reference_profile"] = in_run.model_dump(mode="json")
    mlmodel.write_text(yaml.safe_dump(meta))
    assert profile_from_model(model) == in_run
