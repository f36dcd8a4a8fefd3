"""One model URI, one identity: serve-api, batch-inference and export-model agree on which model a
URI means (registered name and version), and every command finds models through the same tracking
rule (the config's tracking_uri, else MLFLOW_TRACKING_URI, else the local default)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DATA, RECIPES, NewStore, TrainedExample, sqlite_uri, write_config
from tests.serving.conftest import wait_ready

NAME = "diabetes-identity"


@pytest.fixture(scope="module")
def registry(trained: dict[str, TrainedExample]) -> TrainedExample:
    """The diabetes model registered twice under NAME (versions 1 and 2), alias `stable` -> 1, so
    `latest`, `@stable` and `/1` mean different versions."""
    import mlflow

    example = trained["diabetes"]
    client = mlflow.MlflowClient(example.tracking_uri)
    if not client.search_registered_models(f"name = '{NAME}'"):
        client.create_registered_model(NAME)
        model_id = example.model_uri.removeprefix("models:/")
        # The artifact location, not models:/m-...: MLflow's registry store resolves the latter
        # through the process-wide tracking URI, which mmp leaves alone.
        source = client.get_logged_model(model_id).artifact_location
        for _ in range(2):
            client.create_model_version(NAME, source, run_id=example.run_id, model_id=model_id)
        client.set_registered_model_alias(NAME, "stable", "1")
    return example


def _served(uri: str, tracking_uri: str | None) -> dict[str, Any]:
    from fastapi.testclient import TestClient

    from mmp.serving.app import create_app
    from mmp.serving.settings import ServeSettings

    settings = ServeSettings(model_uri=uri, tracking_uri=tracking_uri, reload_interval_s=0)
    with TestClient(create_app(settings)) as client:
        wait_ready(client)
        body: dict[str, Any] = client.get("/model").json()
        return body


def _scored(uri: str, config: Any, data: Path, out: Path) -> tuple[str, str]:
    import pandas as pd

    from mmp.pipelines.batch import BatchJob, run_batch

    run_batch(BatchJob(model_uri=uri, data_path=str(data), output_path=str(out)), config)
    rows = pd.read_parquet(out, columns=["model_name", "model_version"]).drop_duplicates()
    assert len(rows) == 1, rows
    return str(rows.iloc[0]["model_name"]), str(rows.iloc[0]["model_version"])


def _exported(uri: str, store: Any, folder: Path) -> tuple[str | None, str | None, dict[str, Any]]:
    from mmp.core.model_store import export_model, load_model

    export_model(uri, folder, store)
    identity = load_model(str(folder)).identity  # no store needed for the copy
    return identity.name, identity.version, json.loads((folder / "mmp_source.json").read_text())


@pytest.mark.parametrize(
    ("suffix", "version"),
    [("/latest", "2"), ("@stable", "1"), ("/2", "2")],
    ids=["latest", "alias", "pinned"],
)
def test_same_uri_same_name_and_version_everywhere(
    registry: TrainedExample, session_store: tuple[str, Path], tmp_path: Path, suffix: str, version: str
) -> None:
    from mmp.recipe.loader import load_config

    uri = f"models:/{NAME}{suffix}"
    config = load_config(session_store[1]).model
    served = _served(uri, registry.tracking_uri)
    assert (served["name"], served["version"]) == (NAME, version)
    assert served["resolved_uri"] == f"models:/{NAME}/{version}"
    assert _scored(uri, config, registry.data_path, tmp_path / "out.parquet") == (NAME, version)
    name, exported_version, source = _exported(uri, config.mlflow.store(), tmp_path / "exported")
    assert (name, exported_version) == (NAME, version)
    assert source["model_uri"] == uri and source["run_id"] == registry.run_id


def test_card_is_read_without_the_pipeline(registry: TrainedExample, tmp_path: Path) -> None:
    from mmp.core.model_store import export_model, load_model, read_card

    card = read_card(f"models:/{NAME}@stable", registry.tracking_uri)
    assert card.resolved is not None
    assert (card.identity.name, card.identity.version, card.identity.run_id) == (NAME, "1", registry.run_id)
    loaded = load_model(card.resolved, registry.tracking_uri)
    assert card.contract == loaded.contract and card.identity == loaded.identity
    folder = export_model(card.resolved, tmp_path / "m", registry.tracking_uri)
    exported = read_card(str(folder))
    assert (exported.identity.name, exported.identity.version) == (NAME, "1")


def test_unknown_model_version_or_alias_is_one_line(registry: TrainedExample) -> None:
    from mmp.core.errors import MmpError
    from mmp.core.model_ref import ModelRef
    from mmp.core.tracking import TrackingStore

    store = TrackingStore(registry.tracking_uri)
    cases = {
        "models:/no-such-model/latest": "no registered model named 'no-such-model'",
        f"models:/{NAME}/99": f"registered model '{NAME}' has no version 99 (newest: 2)",
        f"models:/{NAME}@nope": f"registered model '{NAME}' has no alias 'nope' (aliases: stable)",
        f"runs:/{'0' * 32}/model": f"no run {'0' * 32}",
    }
    for uri, expected in cases.items():
        with pytest.raises(MmpError) as caught:
            ModelRef.parse(uri).resolve(store)
        assert expected in caught.value.message
        assert "\n" not in str(caught.value)


@pytest.mark.slow
def test_every_command_follows_mlflow_tracking_uri(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, new_store: NewStore
) -> None:
    """train, batch-inference, export-model and serve-api, all without --config-path, find the same
    store through MLFLOW_TRACKING_URI (the working directory's default store stays untouched)."""
    from typer.testing import CliRunner

    from mmp.cli.main import app
    from mmp.serving.launch import settings_from_options

    store_dir = tmp_path / "store"
    store_dir.mkdir()
    uri = new_store(store_dir)
    workdir = tmp_path / "work"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    runner = CliRunner()

    def mmp(*args: str) -> Any:
        result = runner.invoke(app, list(args), catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result

    # A config without mlflow.tracking_uri must not hide the variable: only artifacts go elsewhere.
    config = write_config(store_dir, uri).read_text().replace(f"  tracking_uri: {uri}\n", "")
    (workdir / "config.yaml").write_text(config)
    trained = json.loads(
        mmp(
            "train",
            "-r",
            str(RECIPES / "diabetes.yaml"),
            "-d",
            str(DATA / "diabetes.csv"),
            "-c",
            "config.yaml",
            "--register-as",
            "envtest",
            "--json",
        ).stdout
    )
    assert trained["tracking_uri"] == uri
    assert os.environ["MLFLOW_TRACKING_URI"] == uri  # training restored what it found
    model = "models:/envtest/latest"
    out = json.loads(
        mmp(
            "batch-inference", "-m", model, "-d", str(DATA / "diabetes.csv"), "-o", "p.parquet", "--json"
        ).stdout
    )
    assert (out["model"]["name"], out["model"]["version"]) == ("envtest", "1")
    exported = json.loads(mmp("export-model", "-m", model, "-o", "exported", "--json").stdout)
    assert (exported["name"], exported["version"]) == ("envtest", "1")
    settings = settings_from_options(run_id=None, model_uri=model, config_path=None)
    assert settings.tracking_uri == uri
    served = _served(settings.model_uri, settings.tracking_uri)
    assert (served["name"], served["version"], served["run_id"]) == ("envtest", "1", trained["run_id"])
    defaults = [p.name for p in workdir.iterdir() if p.suffix == ".db"]  # mlruns.db, MLflow's mlflow.db
    assert defaults == [], "a command fell back to a default store"


def test_tracking_rule_config_then_environment_then_default(monkeypatch: pytest.MonkeyPatch) -> None:
    from mmp.recipe.config import MlflowSettings

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert MlflowSettings().store().tracking_uri == "sqlite:///mlruns.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://env:5000")
    assert MlflowSettings().store().tracking_uri == "http://env:5000"
    assert MlflowSettings(experiment="x").store().tracking_uri == "http://env:5000"
    assert MlflowSettings(tracking_uri="http://config:5000").store().tracking_uri == "http://config:5000"


def test_fluent_scope_restores_mlflow_global_state(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import mlflow

    from mmp.core.tracking import TrackingStore

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://before:5000")
    before = mlflow.get_tracking_uri()
    with TrackingStore(sqlite_uri(tmp_path)).fluent():
        assert mlflow.get_tracking_uri() == sqlite_uri(tmp_path)
    assert mlflow.get_tracking_uri() == before == "http://before:5000"
    assert os.environ["MLFLOW_TRACKING_URI"] == "http://before:5000"
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    with TrackingStore(sqlite_uri(tmp_path)).fluent():
        pass
    assert "MLFLOW_TRACKING_URI" not in os.environ
