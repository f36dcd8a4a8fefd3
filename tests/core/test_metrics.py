"""The metric registry agrees with scikit-learn, knows its directions and aliases, and is the only
catalog every layer reads (recipe validation, evaluation, tuning, the reference docs)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from mmp.core.errors import MmpError, first_line
from mmp.core.metrics import (
    ALIASES,
    METRICS,
    canonical_metric,
    compute_metrics,
    default_metrics,
    get_metric,
    metric_names,
)
from mmp.core.tasks import TASKS, Task

Y_TRUE = np.array(["a", "b", "b", "a", "b", "a", "b", "b"])
Y_PRED = np.array(["a", "b", "a", "a", "b", "b", "b", "b"])
CLASSES = np.array(["a", "b"])
PROBA = np.array(
    [[0.8, 0.2], [0.3, 0.7], [0.6, 0.4], [0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.1, 0.9], [0.3, 0.7]]
)
R_TRUE = np.array([3.0, 1.5, 2.0, 7.0, 4.0])
R_PRED = np.array([2.5, 1.0, 2.0, 8.0, 3.0])


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("accuracy", skm.accuracy_score(Y_TRUE, Y_PRED)),
        ("balanced_accuracy", skm.balanced_accuracy_score(Y_TRUE, Y_PRED)),
        ("f1_macro", skm.f1_score(Y_TRUE, Y_PRED, average="macro")),
        ("f1_weighted", skm.f1_score(Y_TRUE, Y_PRED, average="weighted")),
        ("precision_macro", skm.precision_score(Y_TRUE, Y_PRED, average="macro")),
        ("recall_macro", skm.recall_score(Y_TRUE, Y_PRED, average="macro")),
        ("roc_auc", skm.roc_auc_score(Y_TRUE, PROBA[:, 1])),
        ("log_loss", skm.log_loss(Y_TRUE, PROBA)),
    ],
)
def test_classification_metrics_match_scikit_learn(name: str, expected: float) -> None:
    assert get_metric(name).compute(Y_TRUE, Y_PRED, PROBA, classes=CLASSES) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("rmse", np.sqrt(skm.mean_squared_error(R_TRUE, R_PRED))),
        ("mse", skm.mean_squared_error(R_TRUE, R_PRED)),
        ("mae", skm.mean_absolute_error(R_TRUE, R_PRED)),
        ("median_ae", skm.median_absolute_error(R_TRUE, R_PRED)),
        ("r2", skm.r2_score(R_TRUE, R_PRED)),
        ("mape", skm.mean_absolute_percentage_error(R_TRUE, R_PRED)),
    ],
)
def test_regression_metrics_match_scikit_learn(name: str, expected: float) -> None:
    assert get_metric(name).compute(R_TRUE, R_PRED) == pytest.approx(expected)


def test_clustering_metrics_read_the_features() -> None:
    features = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0], [0.0, 0.2], [5.0, 5.2]])
    labels = np.array([0, 0, 1, 1, 0, 1])
    scores = compute_metrics(
        ["silhouette", "davies_bouldin", "calinski_harabasz"], None, labels, features=features
    )
    assert scores["silhouette"] == pytest.approx(skm.silhouette_score(features, labels))
    assert scores["davies_bouldin"] == pytest.approx(skm.davies_bouldin_score(features, labels))
    # one cluster: undefined, left out rather than reported as 0
    assert compute_metrics(["silhouette"], None, np.zeros(6), features=features) == {}


def test_undefined_metrics_are_none_not_zero() -> None:
    auc = get_metric("roc_auc")
    assert auc.compute(Y_TRUE, Y_PRED, None, classes=CLASSES) is None  # no probabilities
    one_class = np.array(["b", "b", "b"])
    assert auc.compute(one_class, one_class, PROBA[:3], classes=CLASSES) is None
    assert get_metric("accuracy").compute(np.array([]), np.array([])) is None
    assert compute_metrics(["accuracy", "auc"], Y_TRUE, Y_PRED, classes=CLASSES) == {
        "accuracy": pytest.approx(0.75)
    }


def test_resampled_rows_score_against_the_models_classes() -> None:
    """Bootstrap-style use: any subset of rows, the label set fixed by `classes`."""
    rows = np.array([1, 2, 4, 6, 7])  # only 'b' among the true labels
    value = get_metric("log_loss").compute(Y_TRUE[rows], Y_PRED[rows], PROBA[rows], classes=CLASSES)
    assert value == pytest.approx(skm.log_loss(Y_TRUE[rows], PROBA[rows], labels=CLASSES))


def test_aliases_directions_and_lookup() -> None:
    assert canonical_metric(" AUC ") == "roc_auc"
    assert canonical_metric("neg_root_mean_squared_error") == "rmse"
    assert all(alias not in METRICS for alias in ALIASES)
    assert get_metric("logloss").direction == "minimize"
    assert get_metric("r2").direction == "maximize"
    assert get_metric("log_loss").is_better(0.2, 0.3) and get_metric("auc").is_better(0.9, 0.8)
    with pytest.raises(MmpError, match=r"unknown metric 'acuracy'.*did you mean 'accuracy'"):
        get_metric("acuracy")
    with pytest.raises(MmpError, match="unknown metric 'rmse' for a classification task"):
        get_metric("rmse", Task.classification)


def test_every_task_has_metrics_and_defaults_that_fit_it() -> None:
    assert [str(t) for t in TASKS] == ["classification", "regression", "timeseries", "clustering"]
    for task in Task:
        assert default_metrics(task), task
        assert set(default_metrics(task)) <= set(metric_names(task))
    assert default_metrics("classification") == ("accuracy", "f1_macro", "roc_auc", "log_loss")
    assert default_metrics("regression") == ("rmse", "mae", "r2", "mape")


def test_a_task_is_its_string() -> None:
    assert Task("regression") is Task.regression
    assert Task.regression == "regression" and f"{Task.regression}" == "regression"
    assert {Task.clustering: 1}["clustering"] == 1


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (ValueError(""), "ValueError"),
        (ValueError("\n  \n"), "ValueError"),
        (RuntimeError("\nfirst\nsecond"), "first"),
        (KeyError("k"), "'k'"),
    ],
)
def test_first_line_never_raises(exc: BaseException, expected: str) -> None:
    assert first_line(exc) == expected
