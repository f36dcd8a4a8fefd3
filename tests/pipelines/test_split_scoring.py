"""Training scores each split once: the metrics and the reference profile built from those scores equal
the ones computed by calling the pipeline again (the speed-up changes no number)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmp.monitoring.profile import training_profile
from mmp.pipelines.build import build_pipeline
from mmp.pipelines.evaluate import evaluate
from mmp.pipelines.prepare import prepare
from mmp.pipelines.train import _metrics
from mmp.recipe.config import Config
from mmp.recipe.loader import load_recipe

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("name", "data", "small"),
    [
        ("breast_cancer", "breast_cancer.csv", {"n_estimators": 20}),
        ("diabetes", "diabetes.csv", {"max_iter": 20}),
    ],
)
def test_scores_reused_give_the_same_metrics_and_profile(name: str, data: str, small: dict[str, int]) -> None:
    recipe = load_recipe(REPO / "recipes" / f"{name}.yaml").model
    recipe = recipe.model_copy(update={"model": recipe.model.model_copy(update={"hyperparameters": small})})
    prepared = prepare(recipe, Config(), str(REPO / "data" / data))
    columns = prepared.columns
    train = prepared.splits.train
    pipeline = build_pipeline(recipe, columns, prepared.contract)
    pipeline.fit(train[columns.model_input], train[columns.target])

    metrics, scored = _metrics(recipe, prepared, pipeline)

    for split, prefix in (("validation", "val"), ("test", "test")):
        frame = prepared.splits.named()[split]
        again = evaluate(
            pipeline, frame, columns.model_input, columns.target, recipe.task, recipe.metric_names
        )
        assert again and {f"{prefix}_{k}": v for k, v in again.items()} == {
            k: v for k, v in metrics.items() if k.startswith(f"{prefix}_")
        }
    validation = prepared.splits.validation
    reused = training_profile(
        prepared.contract, recipe.monitoring, train, validation, pipeline, scored["validation"]
    )
    fresh = training_profile(prepared.contract, recipe.monitoring, train, validation, pipeline)
    assert reused.model_dump() == fresh.model_dump()
