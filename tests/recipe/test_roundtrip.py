"""Property: any valid recipe written to YAML loads back as the same model."""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmp.recipe.loader import load_recipe
from mmp.recipe.models import Recipe

names = st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True)


@st.composite
def recipes(draw: st.DrawFn) -> dict:
    columns = draw(st.lists(names, min_size=4, max_size=8, unique=True))
    target, entity, *features = columns
    task = draw(st.sampled_from(["classification", "regression"]))
    train = draw(st.sampled_from([0.6, 0.7, 0.8]))
    validation = round(draw(st.sampled_from([0.0, 0.1])), 2)
    split = {"train": train, "validation": validation, "test": round(1 - train - validation, 10)}
    categorical = draw(st.lists(st.sampled_from(features), unique=True, max_size=len(features)))
    estimator = {
        "classification": ("sklearn.linear_model.LogisticRegression", {"C": draw(st.floats(0.01, 10))}),
        "regression": ("sklearn.linear_model.Ridge", {"alpha": draw(st.floats(0.0, 10))}),
    }[task]
    return {
        "name": draw(names),
        "task": task,
        "seed": draw(st.integers(0, 2**31 - 1)),
        "model": {"class_path": estimator[0], "hyperparameters": estimator[1]},
        "data": {
            "source": "data.csv",
            "data_interface": {
                "entity_columns": [entity],
                "target_column": target,
                "feature_columns": features,
                "categorical_columns": categorical,
            },
            "split": split,
        },
        "preprocessing": {
            "numeric": [
                {"type": "simple_imputer", "params": {"strategy": draw(st.sampled_from(["mean", "median"]))}}
            ],
        },
        "metadata": {"owner": draw(names)},
    }


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(recipes())
def test_recipe_yaml_round_trip(tree: dict) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "recipe.yaml"
        path.write_text(yaml.safe_dump(tree), encoding="utf-8")
        loaded = load_recipe(path).model
        again = Path(tmp) / "again.yaml"
        again.write_text(yaml.safe_dump(loaded.model_dump(mode="json")), encoding="utf-8")
        assert load_recipe(again).model == loaded
    assert loaded == Recipe.model_validate(tree)
