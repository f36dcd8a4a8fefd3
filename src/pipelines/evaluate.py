"""Compute the recipe's metrics for a fitted pipeline on one split."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline


def evaluate(
    pipeline: Pipeline,
    frame: pd.DataFrame,
    model_input: list[str],
    target: str | None,
    task: str,
    metrics: list[str],
) -> dict[str, float]:
    """Every requested metric on `frame`; an empty split gives no metrics."""
    import numpy as np
    from sklearn import metrics as skm

    if len(frame) == 0:
        return {}
    X = frame[model_input]
    if task == "clustering":
        features = pipeline[:-1].transform(X)
        labels = pipeline.predict(X)
        if len(np.unique(labels)) < 2 or len(np.unique(labels)) >= len(labels):
            return {}
        fns = {
            "silhouette": skm.silhouette_score,
            "davies_bouldin": skm.davies_bouldin_score,
            "calinski_harabasz": skm.calinski_harabasz_score,
        }
        return {m: float(fns[m](features, labels)) for m in metrics}

    y_true = frame[target].to_numpy()
    y_pred = pipeline.predict(X)
    if task == "classification":
        return _classification(pipeline, X, y_true, y_pred, metrics)
    out: dict[str, float] = {}
    for m in metrics:
        if m == "rmse":
            out[m] = float(np.sqrt(skm.mean_squared_error(y_true, y_pred)))
        elif m == "mse":
            out[m] = float(skm.mean_squared_error(y_true, y_pred))
        elif m == "mae":
            out[m] = float(skm.mean_absolute_error(y_true, y_pred))
        elif m == "median_ae":
            out[m] = float(skm.median_absolute_error(y_true, y_pred))
        elif m == "r2":
            out[m] = float(skm.r2_score(y_true, y_pred)) if len(y_true) > 1 else float("nan")
        elif m == "mape":
            out[m] = float(skm.mean_absolute_percentage_error(y_true, y_pred))
    return out


def _classification(pipeline: Any, X: Any, y_true: Any, y_pred: Any, metrics: list[str]) -> dict[str, float]:
    import numpy as np
    from sklearn import metrics as skm

    classes = list(getattr(pipeline, "classes_", np.unique(y_true)))
    proba = pipeline.predict_proba(X) if hasattr(pipeline, "predict_proba") else None
    out: dict[str, float] = {}
    for m in metrics:
        if m == "accuracy":
            out[m] = float(skm.accuracy_score(y_true, y_pred))
        elif m == "balanced_accuracy":
            out[m] = float(skm.balanced_accuracy_score(y_true, y_pred))
        elif m in ("f1_macro", "f1_weighted"):
            avg = m.split("_")[1]
            out[m] = float(skm.f1_score(y_true, y_pred, average=avg, labels=classes, zero_division=0))
        elif m == "precision_macro":
            out[m] = float(
                skm.precision_score(y_true, y_pred, average="macro", labels=classes, zero_division=0)
            )
        elif m == "recall_macro":
            out[m] = float(skm.recall_score(y_true, y_pred, average="macro", labels=classes, zero_division=0))
        elif m == "roc_auc" and proba is not None and len(np.unique(y_true)) > 1:
            if len(classes) == 2:
                out[m] = float(skm.roc_auc_score(y_true, proba[:, 1]))
            elif len(np.unique(y_true)) == len(classes):
                out[m] = float(skm.roc_auc_score(y_true, proba, multi_class="ovr", labels=classes))
        elif m == "log_loss" and proba is not None:
            out[m] = float(skm.log_loss(y_true, proba, labels=classes))
    return out
