"""A tiny churn-like problem trained three ways into one store, re-registered per test under a fresh name.

Training is the slow part (MLflow logging), so it happens once per session: `good` learns the real
signal, `bad` learns from labels that are pure noise, `narrow` is trained without one feature
(a different contract). Each test registers those runs' models under its own name (cheap), so
tests that move aliases and write ledger records never see each other's state.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import NewStore, write_config

REGIONS = ("north", "south", "east")
_names = itertools.count()


def make_data(rows: int, seed: int, flip: float = 0.0):
    """Features x1, x2, region; label depends on them (a `flip` share of labels is random noise)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    x1 = rng.normal(size=rows)
    x2 = rng.normal(size=rows)
    region = rng.choice(REGIONS, size=rows)
    score = 1.5 * x1 - x2 + np.where(region == "north", 0.5, 0.0) + rng.normal(scale=0.5, size=rows)
    label = (score > 0).astype(int)
    noisy = rng.random(rows) < flip
    label = np.where(noisy, rng.integers(0, 2, rows), label)
    return pd.DataFrame(
        {"customer_id": np.arange(rows), "x1": x1, "x2": x2, "region": region, "churned": label}
    )


RECIPE = """
name: churn
task: classification
seed: 7
model:
  class_path: sklearn.linear_model.LogisticRegression
  hyperparameters: {{max_iter: 200}}
data:
  data_interface:
    entity_columns: [customer_id]
    target_column: churned
{features}
  split: {{train: 0.7, validation: 0.15, test: 0.15}}
preprocessing:
  numeric:
    - type: standard_scaler
  categorical:
    - type: one_hot_encoder
      params: {{handle_unknown: ignore}}
evaluation:
  metrics: [accuracy, roc_auc, log_loss]
promotion:
  metric: accuracy
  floor: 0.6
"""


@dataclass(frozen=True)
class Lab:
    """The session's store, config, recipe and data files, and the three trained models."""

    folder: Path
    tracking_uri: str
    config_path: Path
    recipe_path: Path
    narrow_recipe_path: Path
    good_data: Path
    bad_data: Path
    eval_data: Path
    runs: dict[str, str]  # good/bad/narrow -> models:/m-... logged model URI

    def register(self, *kinds: str) -> str:
        """A fresh registered model whose versions 1, 2, ... are the given kinds; returns its name."""
        import contextlib
        import io

        import mlflow

        from mmp.core.tracking import TrackingStore

        name = f"churn{next(_names)}"
        with TrackingStore(self.tracking_uri).fluent():
            for kind in kinds:
                with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                    mlflow.register_model(self.runs[kind], name)
        return name

    def client(self):
        from mmp.core.tracking import TrackingStore

        return TrackingStore(self.tracking_uri).client()


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory, new_store: NewStore) -> Iterator[Lab]:
    from mmp.pipelines.train import train
    from mmp.recipe.loader import load_config, load_recipe

    folder = tmp_path_factory.mktemp("lifecycle")
    uri = new_store(folder)
    config_path = write_config(folder, uri, experiment="lifecycle")
    recipe_path = folder / "churn.yaml"
    recipe_path.write_text(RECIPE.format(features=""), encoding="utf-8")
    narrow = folder / "churn_narrow.yaml"
    narrow.write_text(RECIPE.format(features="    feature_columns: [x1, region]"), encoding="utf-8")
    good, bad, evaluation = folder / "good.csv", folder / "bad.csv", folder / "eval.csv"
    make_data(600, seed=1).to_csv(good, index=False)
    make_data(600, seed=2, flip=1.0).to_csv(bad, index=False)
    make_data(1500, seed=3).to_csv(evaluation, index=False)
    config = load_config(config_path)
    runs = {}
    for kind, recipe, data in (
        ("good", recipe_path, good),
        ("bad", recipe_path, bad),
        ("narrow", narrow, good),
    ):
        runs[kind] = train(load_recipe(recipe), config, str(data)).model_uri
    yield Lab(folder, uri, config_path, recipe_path, narrow, good, bad, evaluation, runs)


@pytest.fixture
def config(lab: Lab):
    from mmp.recipe.loader import load_config

    return load_config(lab.config_path).model
