"""Three tiny models trained once per session on data built to exercise every conformance rule:
booleans and integers with missing values (pandas nullable dtypes in Parquet, text in CSV),
categoricals with nulls, unseen levels accepted and refused, dates with and without zones."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conformance.surfaces import PyfuncScorer
from tests.conftest import NewStore, write_config

RECIPES = {
    # Trained from Parquet: Int64 and boolean columns with NA.
    "conf_accept": """
name: conf_accept
task: classification
model:
  class_path: sklearn.ensemble.RandomForestClassifier
  hyperparameters: {n_estimators: 8, max_depth: 4}
data:
  data_interface: {entity_columns: [id], target_column: label}
""",
    # Trained from CSV (booleans with blanks arrive as objects); its encoder refuses unseen levels.
    "conf_refuse": """
name: conf_refuse
task: classification
model:
  class_path: sklearn.ensemble.RandomForestClassifier
  hyperparameters: {n_estimators: 8, max_depth: 4}
data:
  data_interface: {entity_columns: [id], target_column: label}
preprocessing:
  categorical:
    - {type: simple_imputer, params: {strategy: most_frequent}}
    - {type: one_hot_encoder, params: {handle_unknown: error}}
""",
    # A time series from CSV: the date arrives as ISO text.
    "conf_dates": """
name: conf_dates
task: timeseries
model:
  class_path: sklearn.ensemble.RandomForestRegressor
  hyperparameters: {n_estimators: 8, max_depth: 5}
data:
  data_interface: {entity_columns: [id], target_column: y, timestamp_column: day}
""",
}


def make_frame(n: int = 160, seed: int = 0) -> Any:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    amount = rng.normal(50, 20, n).round(2)
    amount[rng.random(n) < 0.1] = np.nan
    visits = pd.array(rng.integers(0, 20, n), dtype="Int64")
    visits[rng.random(n) < 0.1] = pd.NA
    member = pd.array(rng.random(n) < 0.5, dtype="boolean")
    member[rng.random(n) < 0.15] = pd.NA
    color = rng.choice(["red", "green", "blue"], n).astype(object)
    color[rng.random(n) < 0.1] = None
    size = rng.choice(["S", "M", "L"], n)
    score = (
        np.nan_to_num(amount, nan=50) / 50
        + visits.to_numpy(dtype=float, na_value=10) / 10
        + member.to_numpy(dtype=float, na_value=0.5)
        + (color == "red")
        + (size == "L") * 0.5
    )
    frame = pd.DataFrame(
        {
            "id": [f"C{i:04d}" for i in range(n)],
            "amount": amount,
            "visits": visits,
            "member": member,
            "color": pd.array(color, dtype=object),
            "size": size,
            "label": (score > np.median(score)).astype(int),
        }
    )
    return frame


def make_dates(n: int = 160, seed: int = 1) -> Any:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    days = pd.date_range("2023-01-01", periods=n, freq="D")
    amount = rng.normal(10, 3, n).round(2)
    y = days.day_of_week.to_numpy() * 2.0 + amount + rng.normal(0, 0.5, n)
    return pd.DataFrame(
        {"id": [f"D{i:04d}" for i in range(n)], "day": days.strftime("%Y-%m-%d"), "amount": amount, "y": y}
    )


@dataclass
class ConfModel:
    name: str
    uri: str
    data_path: Path
    loaded: Any


@dataclass
class Conformance:
    folder: Path
    tracking_uri: str
    config_path: Path
    models: dict[str, ConfModel]
    frame: Any

    def batch_run(self, name: str) -> Any:
        from mmp.pipelines.batch import BatchJob, run_batch
        from mmp.recipe.loader import load_config

        config = load_config(self.config_path).model

        def run(source: Path, output: Path, **options: Any) -> Any:
            job = BatchJob(
                model_uri=self.models[name].uri, data_path=str(source), output_path=str(output), **options
            )
            return run_batch(job, config)

        return run


@pytest.fixture(scope="session")
def conformance(tmp_path_factory: pytest.TempPathFactory, new_store: NewStore) -> Conformance:
    from mmp.core.model_store import load_model
    from mmp.pipelines.train import train
    from mmp.recipe.loader import load_config, load_recipe

    folder = tmp_path_factory.mktemp("conformance")
    uri = new_store(folder)
    config_path = write_config(folder, uri, experiment="conformance")
    frame = make_frame()
    frame.to_parquet(folder / "data.parquet")
    frame.to_csv(folder / "data.csv", index=False)
    make_dates().to_csv(folder / "dates.csv", index=False)
    sources = {
        "conf_accept": folder / "data.parquet",
        "conf_refuse": folder / "data.csv",
        "conf_dates": folder / "dates.csv",
    }
    models = {}
    for name, text in RECIPES.items():
        recipe_path = folder / f"{name}.yaml"
        recipe_path.write_text(text, encoding="utf-8")
        result = train(
            load_recipe(recipe_path), load_config(config_path), str(sources[name]), register_as=name
        )
        model_uri = f"models:/{name}/{result.registered_version}"
        models[name] = ConfModel(name, model_uri, sources[name], load_model(model_uri, uri))
    return Conformance(folder, uri, config_path, models, frame)


@pytest.fixture(scope="session")
def pyfunc_scorer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PyfuncScorer]:
    """The logged models scored by MLflow alone, in one interpreter without mmp for the session."""
    scorer = PyfuncScorer(tmp_path_factory.mktemp("pyfunc"))
    yield scorer
    scorer.close()
