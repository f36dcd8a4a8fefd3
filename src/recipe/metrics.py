"""The metric catalog: which metrics exist for which task, with their aliases.

Kept as data (names only, no scikit-learn import) so recipes can be validated instantly; the
computation lives in `mmp.pipelines.evaluate`.
"""

from __future__ import annotations

from typing import Literal

Task = Literal["classification", "regression", "timeseries", "clustering"]
TASKS: tuple[str, ...] = ("classification", "regression", "timeseries", "clustering")

CLASSIFICATION_METRICS = (
    "accuracy",
    "balanced_accuracy",
    "f1_macro",
    "f1_weighted",
    "precision_macro",
    "recall_macro",
    "roc_auc",
    "log_loss",
)
REGRESSION_METRICS = ("rmse", "mae", "r2", "mape", "mse", "median_ae")
CLUSTERING_METRICS = ("silhouette", "davies_bouldin", "calinski_harabasz")

METRICS_BY_TASK: dict[str, tuple[str, ...]] = {
    "classification": CLASSIFICATION_METRICS,
    "regression": REGRESSION_METRICS,
    "timeseries": REGRESSION_METRICS,
    "clustering": CLUSTERING_METRICS,
}

DEFAULT_METRICS: dict[str, tuple[str, ...]] = {
    "classification": ("accuracy", "f1_macro", "roc_auc", "log_loss"),
    "regression": ("rmse", "mae", "r2", "mape"),
    "timeseries": ("rmse", "mae", "r2", "mape"),
    "clustering": ("silhouette",),
}

# Every alias maps to one canonical name, so a recipe that says `neg_root_mean_squared_error` or
# `auc` scores exactly what it asked for instead of silently scoring 0.
ALIASES: dict[str, str] = {
    "acc": "accuracy",
    "f1": "f1_macro",
    "macro_f1": "f1_macro",
    "weighted_f1": "f1_weighted",
    "precision": "precision_macro",
    "recall": "recall_macro",
    "auc": "roc_auc",
    "roc_auc_ovr": "roc_auc",
    "logloss": "log_loss",
    "cross_entropy": "log_loss",
    "root_mean_squared_error": "rmse",
    "neg_root_mean_squared_error": "rmse",
    "mean_absolute_error": "mae",
    "neg_mean_absolute_error": "mae",
    "mean_squared_error": "mse",
    "neg_mean_squared_error": "mse",
    "r_squared": "r2",
    "mean_absolute_percentage_error": "mape",
    "median_absolute_error": "median_ae",
    "silhouette_score": "silhouette",
    "davies_bouldin_score": "davies_bouldin",
    "calinski_harabasz_score": "calinski_harabasz",
}

# Direction of improvement, used for summaries and tuning.
GREATER_IS_BETTER: dict[str, bool] = {
    **{m: True for m in CLASSIFICATION_METRICS},
    "log_loss": False,
    "rmse": False,
    "mae": False,
    "mse": False,
    "mape": False,
    "median_ae": False,
    "r2": True,
    "silhouette": True,
    "davies_bouldin": False,
    "calinski_harabasz": True,
}


def canonical_metric(name: str) -> str:
    """The canonical name of a metric or alias (case-insensitive); unknown names are returned as is."""
    key = name.strip().lower()
    return ALIASES.get(key, key)
