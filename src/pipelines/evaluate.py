"""Score a fitted pipeline on one split with the metric registry (`mmp.core.metrics`).

This module only turns a pipeline and a frame into arrays (labels, probabilities when a metric
needs them, the transformed features for clustering); what each metric means and how it is
computed lives in the registry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mmp.core.metrics import compute_metrics, get_metric
from mmp.core.tasks import Task

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline


def evaluate(
    pipeline: Pipeline,
    frame: pd.DataFrame,
    model_input: list[str],
    target: str | None,
    task: Task | str,
    metrics: list[str],
    predictions: tuple[Any, Any] | None = None,
) -> dict[str, float]:
    """Every requested metric on `frame` that is defined there; an empty split gives no metrics.

    `predictions` is (labels, probabilities or None) already computed for `frame` (training scores
    each split once, for these metrics and the reference profile); without it the pipeline is called.
    """
    if len(frame) == 0 or not metrics:
        return {}
    X = frame[model_input]
    needs = {get_metric(name).needs for name in metrics}
    y_pred = pipeline.predict(X) if predictions is None else predictions[0]
    if Task(task) is Task.clustering:
        features = pipeline[:-1].transform(X) if "features" in needs else None
        return compute_metrics(metrics, None, y_pred, features=features)
    assert target is not None, f"a {task} split has a target column"
    y_true = frame[target].to_numpy()
    proba: Any = None
    if "proba" in needs and hasattr(pipeline, "predict_proba"):
        proba = predictions[1] if predictions is not None else None
        if proba is None:
            proba = pipeline.predict_proba(X)
    classes = getattr(pipeline, "classes_", None) if Task(task) is Task.classification else None
    return compute_metrics(metrics, y_true, y_pred, proba, classes=classes)
