"""What training promises: determinism, self-contained artifacts, no secrets, honest column roles."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import yaml

from mmp.pipelines.train import train
from mmp.recipe.loader import load_config, load_recipe
from tests.conftest import DATA, RECIPES, NewStore, TrainedExample


def recipe_file(tmp_path: Path, base: str, **changes: object) -> Path:
    """An example recipe with some top-level sections replaced."""
    tree = yaml.safe_load((RECIPES / f"{base}.yaml").read_text())
    for key, value in changes.items():
        node = tree
        *parents, last = key.split("__")
        for part in parents:
            node = node[part]
        node[last] = value
    path = tmp_path / f"{base}-variant.yaml"
    path.write_text(yaml.safe_dump(tree), encoding="utf-8")
    return path


def run_train(recipe: Path, config: Path, data: Path | str, **kwargs: object):
    return train(load_recipe(recipe), load_config(config), str(data), **kwargs)


def test_same_recipe_data_and_seed_give_the_same_metrics(mlflow_store: tuple[str, Path]) -> None:
    _, config = mlflow_store
    recipe = RECIPES / "breast_cancer.yaml"
    first = run_train(recipe, config, DATA / "breast_cancer.csv")
    second = run_train(recipe, config, DATA / "breast_cancer.csv")
    assert first.run_id != second.run_id
    assert first.metrics == second.metrics


@pytest.mark.parametrize("name", ["breast_cancer", "retail_sell_through"])
def test_model_loads_and_predicts_where_mmp_cannot_be_imported(
    name: str, trained: dict[str, TrainedExample], tmp_path: Path
) -> None:
    """`mlflow.pyfunc.load_model` in a process where `import mmp` fails gives the same predictions."""
    import mlflow

    example = trained[name]
    mlflow.set_tracking_uri(example.tracking_uri)
    local = mlflow.artifacts.download_artifacts(
        artifact_uri=example.registered_uri, dst_path=str(tmp_path / "m")
    )
    frame = pd.read_csv(example.data_path).head(20)
    expected = mlflow.sklearn.load_model(local).predict(frame[_inputs(local)].pipe(_dates))
    frame.to_csv(tmp_path / "rows.csv", index=False)
    script = textwrap.dedent(
        f"""
        import sys, json
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "mmp" or name.startswith("mmp."):
                    raise ImportError("mmp is not installed here")
        sys.meta_path.insert(0, Block())
        import mlflow, pandas as pd
        model = mlflow.pyfunc.load_model({local!r})
        cols = [c.name for c in model.metadata.get_input_schema().inputs]
        frame = pd.read_csv({str(tmp_path / "rows.csv")!r})
        for c in model.metadata.get_input_schema().inputs:
            if str(c.type) == "DataType.datetime":
                frame[c.name] = pd.to_datetime(frame[c.name])
        out = model.predict(frame[cols])
        assert not any(m.startswith("mmp") for m in sys.modules), "mmp was imported"
        print(json.dumps([str(v) for v in out]))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [str(v) for v in expected]


def _inputs(local: str) -> list[str]:
    from mlflow.models import Model

    return [c.name for c in Model.load(local).get_input_schema().inputs]


def _dates(frame: pd.DataFrame) -> pd.DataFrame:
    if "week_start" in frame:
        frame = frame.assign(week_start=pd.to_datetime(frame["week_start"]))
    return frame


def test_model_requirements_are_exact_pins(trained: dict[str, TrainedExample], tmp_path: Path) -> None:
    import mlflow

    example = trained["diabetes"]
    mlflow.set_tracking_uri(example.tracking_uri)
    local = Path(
        mlflow.artifacts.download_artifacts(artifact_uri=example.registered_uri, dst_path=str(tmp_path))
    )
    pins = (local / "requirements.txt").read_text().split()
    names = {p.split("==")[0] for p in pins}
    assert {"mlflow", "scikit-learn", "pandas", "numpy", "cloudpickle"} <= names
    assert all("==" in p for p in pins)
    assert not any(p.startswith("mmp") for p in pins)


def test_secrets_never_reach_mlflow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, new_store: NewStore
) -> None:
    import mlflow

    secret = "tok-5ecr3t-value-9f8e"
    monkeypatch.setenv("MMP_TEST_TOKEN", secret)
    monkeypatch.setenv("MMP_TEST_TRACKING", new_store(tmp_path, "store.db"))
    config = tmp_path / "config.yaml"
    config.write_text(
        f"mlflow:\n  tracking_uri: ${{MMP_TEST_TRACKING}}\n  artifact_location: {tmp_path / 'art'}\n",
        encoding="utf-8",
    )
    recipe = recipe_file(tmp_path, "diabetes", metadata={"owner": "ml", "api_token": "${MMP_TEST_TOKEN}"})
    result = run_train(recipe, config, DATA / "diabetes.csv")
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'store.db'}")
    run = client.get_run(result.run_id)
    everything = json.dumps([run.data.params, run.data.tags])
    for path in (tmp_path / "art").rglob("*"):
        if path.is_file():
            everything += path.read_bytes().decode("utf-8", "replace")
    assert secret not in everything
    snapshot = yaml.safe_load(Path(client.download_artifacts(result.run_id, "recipe.yaml")).read_text())
    assert snapshot["metadata"]["api_token"] == "***"
    config_snapshot = Path(client.download_artifacts(result.run_id, "config.yaml")).read_text()
    assert "${MMP_TEST_TRACKING}" in config_snapshot


def test_timestamp_is_never_a_raw_feature_for_tabular_tasks(
    mlflow_store: tuple[str, Path], tmp_path: Path
) -> None:
    _, config = mlflow_store
    frame = pd.read_csv(DATA / "retail_sell_through.csv")
    frame["sold_out"] = (frame["units_sold"] >= frame["stock_units"]).map({True: "yes", False: "no"})
    data = tmp_path / "retail.csv"
    frame.drop(columns=["units_sold"]).to_csv(data, index=False)
    recipe = recipe_file(
        tmp_path,
        "breast_cancer",
        data__data_interface={
            "entity_columns": ["store_id", "sku"],
            "target_column": "sold_out",
            "timestamp_column": "week_start",
        },
        preprocessing={},
    )
    result = run_train(recipe, config, data)
    contract = _contract(result.run_id)
    assert "week_start" not in contract["model_input_columns"]
    assert {c["name"]: c["role"] for c in contract["columns"]}["week_start"] == "timestamp"
    timeseries = _contract(
        run_train(RECIPES / "retail_sell_through.yaml", config, DATA / "retail_sell_through.csv").run_id
    )
    assert timeseries["model_input_columns"][-1] == "week_start"
    assert not {"store_id", "sku", "units_sold"} & set(timeseries["model_input_columns"])


def _contract(run_id: str) -> dict:
    import mlflow

    return json.loads(
        Path(mlflow.MlflowClient().download_artifacts(run_id, "feature_contract.json")).read_text()
    )


def test_feature_contract_types_and_levels(trained: dict[str, TrainedExample]) -> None:
    import mlflow

    mlflow.set_tracking_uri(trained["retail_sell_through"].tracking_uri)
    contract = _contract(trained["retail_sell_through"].run_id)
    cols = {c["name"]: c for c in contract["columns"]}
    assert cols["price"]["dtype"] == "number" and cols["price"]["nullable"] is True
    assert cols["stock_units"]["dtype"] == "integer" and cols["stock_units"]["nullable"] is False
    assert cols["region"]["categorical"] and cols["region"]["categories"] == ["east", "north", "south"]
    assert cols["on_promotion"]["dtype"] == "boolean"
    assert cols["week_start"]["dtype"] == "datetime"
    assert cols["units_sold"]["role"] == "target"
    breast = _contract(trained["breast_cancer"].run_id)
    assert breast["classes"] == ["benign", "malignant"]


def test_preprocessing_parameters_reach_the_fitted_transformer(
    mlflow_store: tuple[str, Path], tmp_path: Path
) -> None:
    import mlflow

    _, config = mlflow_store
    recipe = recipe_file(
        tmp_path,
        "retail_sell_through",
        preprocessing={
            "numeric": [{"type": "simple_imputer", "params": {"strategy": "constant", "fill_value": -999}}],
        },
    )
    result = run_train(recipe, config, DATA / "retail_sell_through.csv")
    pipeline = mlflow.sklearn.load_model(result.model_uri)
    imputer = pipeline.named_steps["preprocess"].named_transformers_["numeric"][0]
    assert imputer.fill_value == -999 and imputer.strategy == "constant"


def test_temporal_and_group_splits_keep_their_promises(tmp_path: Path) -> None:
    from mmp.pipelines.prepare import prepare
    from mmp.recipe.config import Config

    temporal = load_recipe(RECIPES / "retail_sell_through.yaml").model
    prepared = prepare(temporal, Config(), str(DATA / "retail_sell_through.csv"))
    s = prepared.splits
    assert s.train["week_start"].max() <= s.validation["week_start"].min()
    assert s.validation["week_start"].max() <= s.test["week_start"].min()

    grouped = load_recipe(
        recipe_file(
            tmp_path,
            "retail_sell_through",
            data__split={
                "strategy": "group",
                "group_column": "store_id",
                "train": 0.5,
                "validation": 0.17,
                "test": 0.33,
            },
        )
    ).model
    g = prepare(grouped, Config(), str(DATA / "retail_sell_through.csv")).splits
    stores = [set(part["store_id"]) for part in (g.train, g.validation, g.test)]
    assert all(part for part in stores)
    assert not (stores[0] & stores[1] or stores[0] & stores[2] or stores[1] & stores[2])


def test_reads_parquet_directories_and_sql(
    mlflow_store: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    _, config = mlflow_store
    frame = pd.read_csv(DATA / "diabetes.csv")
    folder = tmp_path / "parts"
    folder.mkdir()
    frame.iloc[:200].to_parquet(folder / "a.parquet")
    frame.iloc[200:].to_parquet(folder / "b.parquet")
    from_parquet = run_train(RECIPES / "diabetes.yaml", config, folder)

    db = tmp_path / "warehouse.db"
    with sqlite3.connect(db) as conn:
        frame.to_sql("patients", conn, index=False)
    monkeypatch.setenv("MMP_DATABASE_URL", f"sqlite:///{db}")
    query = tmp_path / "patients.sql"
    query.write_text("SELECT * FROM patients ORDER BY patient_id", encoding="utf-8")
    from_sql = run_train(RECIPES / "diabetes.yaml", config, query)
    from_csv = run_train(RECIPES / "diabetes.yaml", config, DATA / "diabetes.csv")
    assert from_parquet.metrics == pytest.approx(from_csv.metrics)
    assert from_sql.metrics == pytest.approx(from_csv.metrics)


def test_register_as_creates_a_registry_version(mlflow_store: tuple[str, Path]) -> None:
    import mlflow

    uri, config = mlflow_store
    result = run_train(RECIPES / "diabetes.yaml", config, DATA / "diabetes.csv", register_as="diabetes-prod")
    assert (result.registered_model, result.registered_version) == ("diabetes-prod", "1")
    version = mlflow.MlflowClient(uri).get_model_version("diabetes-prod", "1")
    assert version.run_id == result.run_id
