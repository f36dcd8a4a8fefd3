"""Tuning optimises the metric it names (aliases resolved, direction known) and never scores 0 silently."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
import yaml

from mmp.core.errors import MmpError
from mmp.pipelines.train import train
from mmp.recipe.loader import load_config, load_recipe
from tests.conftest import DATA, RECIPES


def tuned_recipe(tmp_path: Path, **tuning: object) -> Path:
    tree = yaml.safe_load((RECIPES / "diabetes.yaml").read_text())
    tree["model"]["tuning"] = {
        "n_trials": 4,
        "metric": "neg_root_mean_squared_error",
        "search_space": {
            "max_iter": {"type": "int", "low": 20, "high": 80, "step": 20},
            "learning_rate": {"type": "float", "low": 0.02, "high": 0.3, "log": True},
            "loss": {"type": "categorical", "choices": ["squared_error", "absolute_error"]},
        },
        **tuning,
    }
    path = tmp_path / "tuned.yaml"
    path.write_text(yaml.safe_dump(tree), encoding="utf-8")
    return path


def test_tuning_minimises_rmse_named_by_an_alias(tmp_path: Path, mlflow_store: tuple[str, Path]) -> None:
    import mlflow

    result = train(
        load_recipe(tuned_recipe(tmp_path)), load_config(mlflow_store[1]), str(DATA / "diabetes.csv")
    )
    client = mlflow.MlflowClient(mlflow_store[0])
    run = client.get_run(result.run_id)
    assert run.data.tags["mmp.tuning.metric"] == "rmse"
    assert run.data.tags["mmp.tuning.direction"] == "minimize"
    trials = json.loads(Path(client.download_artifacts(result.run_id, "tuning_trials.json")).read_text())
    assert len(trials) == 4 and all(t["value"] > 1 for t in trials)  # real RMSEs, not 0.0
    best = min(trials, key=lambda t: t["value"])
    assert run.data.metrics["tuning_best_val_rmse"] == pytest.approx(best["value"])
    # the final model was fitted with the best trial's values, and its validation RMSE reproduces it
    assert run.data.params["model.hyperparameters.max_iter"] == str(best["max_iter"])
    assert run.data.params["model.hyperparameters.loss"] == best["loss"]
    assert result.metrics["val_rmse"] == pytest.approx(best["value"])


def test_search_space_names_are_checked(tmp_path: Path) -> None:
    path = tuned_recipe(tmp_path, search_space={"max_iters": {"type": "int", "low": 1, "high": 5}})
    with pytest.raises(
        MmpError,
        match=r"'max_iters' is not a parameter of HistGradientBoostingRegressor \(did you mean 'max_iter'",
    ):
        load_recipe(path)


def test_tuning_metric_must_fit_the_task_and_need_a_validation_split(tmp_path: Path) -> None:
    with pytest.raises(MmpError, match=r"model\.tuning\.metric: 'accuracy' does not fit a regression task"):
        load_recipe(tuned_recipe(tmp_path, metric="accuracy"))
    tree = yaml.safe_load(tuned_recipe(tmp_path).read_text())
    tree["data"]["split"] = {"train": 0.8, "validation": 0, "test": 0.2}
    path = tmp_path / "noval.yaml"
    path.write_text(yaml.safe_dump(tree), encoding="utf-8")
    with pytest.raises(MmpError, match=r"set data\.split\.validation > 0"):
        load_recipe(path)


def test_bad_dimension_is_located(tmp_path: Path) -> None:
    path = tuned_recipe(tmp_path, search_space={"max_iter": {"type": "int", "low": 10, "high": 5}})
    with pytest.raises(
        MmpError, match=r"model.tuning.search_space.max_iter: low and high are required, with low < high"
    ):
        load_recipe(path)


def test_missing_optuna_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mlflow_store: tuple[str, Path]
) -> None:
    monkeypatch.setitem(sys.modules, "optuna", None)
    from mmp.core.installation import installation

    fix = re.escape(installation().install_extra("tune"))
    with pytest.raises(MmpError, match=rf"'optuna' is not installed.*{fix}"):
        train(load_recipe(tuned_recipe(tmp_path)), load_config(mlflow_store[1]), str(DATA / "diabetes.csv"))
