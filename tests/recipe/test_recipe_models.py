"""Recipes are strict: every mistake is one located line, with a suggestion where one helps."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from mmp.core.errors import MmpError
from mmp.recipe.loader import load_config, load_recipe
from tests.conftest import EXAMPLES, RECIPES

BASE = {
    "name": "churn",
    "task": "classification",
    "model": {"class_path": "sklearn.linear_model.LogisticRegression", "hyperparameters": {"C": 1.0}},
    "data": {
        "source": "data/churn.csv",
        "data_interface": {"entity_columns": ["customer_id"], "target_column": "churned"},
    },
}


def write(tmp_path: Path, tree: dict, name: str = "recipe.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(tree), encoding="utf-8")
    return path


def error_for(tmp_path: Path, tree: dict) -> str:
    with pytest.raises(MmpError) as info:
        load_recipe(write(tmp_path, tree))
    return info.value.message


def with_(path: str, value: object) -> dict:
    """BASE with one dotted key set (or deleted when value is ...)."""
    import copy

    tree = copy.deepcopy(BASE)
    node = tree
    *parents, last = path.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return tree


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_example_recipe_loads(name: str) -> None:
    recipe = load_recipe(RECIPES / f"{name}.yaml").model
    assert recipe.name == name


def test_minimal_recipe_gets_task_defaults(tmp_path: Path) -> None:
    recipe = load_recipe(write(tmp_path, BASE)).model
    assert recipe.metric_names == ["accuracy", "f1_macro", "roc_auc", "log_loss"]
    assert recipe.split_strategy == "random"
    assert [s.type for s in recipe.preprocessing.categorical] == ["simple_imputer", "one_hot_encoder"]


def test_unknown_key_is_located_with_suggestion(tmp_path: Path) -> None:
    tree = with_("data.data_interface.entity_colums", ["id"])
    message = error_for(tmp_path, tree)
    assert (
        "recipe.yaml: data.data_interface.entity_colums: unknown key (did you mean 'entity_columns'?)"
        in message
    )


def test_unknown_top_level_key(tmp_path: Path) -> None:
    assert "preprocesing: unknown key (did you mean 'preprocessing'?)" in error_for(
        tmp_path, {**BASE, "preprocesing": {}}
    )


def test_wrong_type_names_the_field(tmp_path: Path) -> None:
    message = error_for(tmp_path, with_("data.split", {"train": "most"}))
    assert "data.split.train: Input should be a valid number" in message


def test_bad_choice_suggests_the_closest(tmp_path: Path) -> None:
    message = error_for(tmp_path, with_("task", "clasification"))
    assert "task: Input should be" in message and "did you mean 'classification'?" in message


def test_split_ratios_must_sum_to_one(tmp_path: Path) -> None:
    message = error_for(tmp_path, with_("data.split", {"train": 0.8, "validation": 0.15, "test": 0.15}))
    assert "train + validation + test must be 1" in message


def test_target_cannot_be_a_feature(tmp_path: Path) -> None:
    tree = with_("data.data_interface.feature_columns", ["tenure", "churned"])
    assert "target column 'churned' is also a feature column" in error_for(tmp_path, tree)


def test_target_cannot_be_an_entity(tmp_path: Path) -> None:
    tree = with_("data.data_interface.entity_columns", ["churned"])
    assert "also an entity column" in error_for(tmp_path, tree)


def test_metric_must_fit_the_task(tmp_path: Path) -> None:
    message = error_for(tmp_path, with_("evaluation", {"metrics": ["rmse"]}))
    assert "'rmse' does not fit a classification task" in message
    # One located line in the user's words: no pydantic wording, no placeholder for the root.
    assert "<root>" not in message and "Value error" not in message
    assert ": evaluation.metrics: " in message or ": model" in message, message


def test_metric_aliases_resolve_to_one_canonical_name(tmp_path: Path) -> None:
    tree = with_("evaluation", {"metrics": ["auc", "ROC_AUC", "f1", "logloss"]})
    assert load_recipe(write(tmp_path, tree)).model.metric_names == ["roc_auc", "f1_macro", "log_loss"]


def test_unknown_hyperparameter_is_rejected_with_suggestion(tmp_path: Path) -> None:
    tree = with_("model.hyperparameters", {"max_iters": 100})
    message = error_for(tmp_path, tree)
    assert "model.hyperparameters: 'max_iters' is not a parameter of LogisticRegression" in message
    assert "did you mean 'max_iter'?" in message


def test_class_path_that_cannot_be_imported(tmp_path: Path) -> None:
    message = error_for(tmp_path, with_("model.class_path", "sklearn.ensemble.RandomForrestClassifier"))
    assert "model.class_path: module 'sklearn.ensemble' has no class 'RandomForrestClassifier'" in message
    assert "did you mean 'RandomForestClassifier'?" in message


def test_estimator_kind_must_match_task(tmp_path: Path) -> None:
    tree = with_("model", {"class_path": "sklearn.linear_model.LinearRegression"})
    message = error_for(tmp_path, tree)
    assert "LinearRegression is a regressor, but the task classification needs a classifier" in message


def test_preprocessing_params_are_checked_not_dropped(tmp_path: Path) -> None:
    bad = with_("preprocessing", {"numeric": [{"type": "simple_imputer", "params": {"fill_valu": -999}}]})
    assert "'fill_valu' is not a parameter of SimpleImputer (did you mean 'fill_value'?)" in error_for(
        tmp_path, bad
    )
    good = with_(
        "preprocessing",
        {"numeric": [{"type": "simple_imputer", "params": {"strategy": "constant", "fill_value": -999}}]},
    )
    step = load_recipe(write(tmp_path, good)).model.preprocessing.numeric[0]
    assert step.resolved_params() == {"strategy": "constant", "fill_value": -999}


def test_unknown_step_type_suggests(tmp_path: Path) -> None:
    bad = with_("preprocessing", {"numeric": [{"type": "standard_scalar"}]})
    assert "unknown step type 'standard_scalar' (did you mean 'standard_scaler'?)" in error_for(tmp_path, bad)


def test_clustering_has_no_target_and_timeseries_needs_a_timestamp(tmp_path: Path) -> None:
    clustering = {**with_("task", "clustering"), "model": {"class_path": "sklearn.cluster.KMeans"}}
    assert "clustering recipes have no target_column" in error_for(tmp_path, clustering)
    timeseries = {**with_("task", "timeseries"), "model": {"class_path": "sklearn.linear_model.Ridge"}}
    assert "timestamp_column is required for timeseries" in error_for(tmp_path, timeseries)


def test_missing_boost_extra_names_the_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from mmp.recipe.components import import_class

    import_class.cache_clear()
    monkeypatch.setitem(sys.modules, "lightgbm", None)  # as if the extra were not installed
    try:
        message = error_for(tmp_path, with_("model.class_path", "lightgbm.LGBMClassifier"))
    finally:
        import_class.cache_clear()
    assert "lightgbm is not installed (fix: uv sync --extra boost (or pip install -e '.[boost]')" in message


def test_yaml_syntax_error_is_located(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\ntask: [classification\n", encoding="utf-8")
    with pytest.raises(MmpError, match=r"broken.yaml:\d+:\d+: invalid YAML"):
        load_recipe(path)


def test_missing_config_file_is_an_error_not_a_fallback(tmp_path: Path) -> None:
    with pytest.raises(MmpError, match="config not found"):
        load_config(tmp_path / "nope.yaml")


def test_config_defaults_to_a_local_sqlite_store() -> None:
    config = load_config(None).model
    assert config.mlflow.tracking_uri == "sqlite:///mlruns.db"


def test_config_rejects_unknown_keys(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent("mlflow:\n  tracking_url: sqlite:///x.db\n"), encoding="utf-8")
    with pytest.raises(MmpError, match=r"mlflow.tracking_url: unknown key \(did you mean 'tracking_uri'\?\)"):
        load_config(path)


def test_hyperparameter_values_are_checked_before_training(tmp_path: Path) -> None:
    tree = with_(
        "model",
        {"class_path": "sklearn.ensemble.RandomForestClassifier", "hyperparameters": {"max_depth": -1}},
    )
    message = error_for(tmp_path, tree)
    assert "model.hyperparameters: The 'max_depth' parameter of RandomForestClassifier must be" in message
    bad_step = with_(
        "preprocessing", {"numeric": [{"type": "simple_imputer", "params": {"strategy": "mode"}}]}
    )
    assert "The 'strategy' parameter of SimpleImputer must be" in error_for(tmp_path, bad_step)
