"""Streaming metrics equal scikit-learn's on the same rows; bootstrap replicates are paired and sane."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from mmp.lifecycle.streaming import Layout, Totals, bootstrap_weights, features

CLASSIFICATION = [
    "accuracy",
    "balanced_accuracy",
    "f1_macro",
    "f1_weighted",
    "precision_macro",
    "recall_macro",
    "roc_auc",
    "log_loss",
]


def _stream(layout: Layout, y, pred, proba, replicates: int = 50, block: int = 97) -> Totals:
    totals = Totals(layout, replicates)
    for start in range(0, len(y), block):
        stop = min(start + block, len(y))
        dense, cells = features(
            layout, y[start:stop], pred[start:stop], None if proba is None else proba[start:stop]
        )
        totals.add(dense, cells, bootstrap_weights(0, start, stop - start, replicates))
    return totals


@pytest.mark.parametrize("k", [2, 3])
def test_classification_metrics_match_sklearn(k: int) -> None:
    rng = np.random.default_rng(k)
    n = 1000
    y = rng.integers(0, k, n)
    logits = rng.normal(size=(n, k)) + np.eye(k)[y] * 1.5
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    pred = proba.argmax(axis=1)
    totals = _stream(Layout("classification", k, True, True), y, pred, proba)
    expected = {
        "accuracy": skm.accuracy_score(y, pred),
        "balanced_accuracy": skm.balanced_accuracy_score(y, pred),
        "f1_macro": skm.f1_score(y, pred, average="macro"),
        "f1_weighted": skm.f1_score(y, pred, average="weighted"),
        "precision_macro": skm.precision_score(y, pred, average="macro"),
        "recall_macro": skm.recall_score(y, pred, average="macro"),
        "roc_auc": skm.roc_auc_score(y, proba[:, 1])
        if k == 2
        else skm.roc_auc_score(y, proba, multi_class="ovr"),
        "log_loss": skm.log_loss(y, proba),
    }
    for metric in CLASSIFICATION:
        values = totals.values(metric)
        tolerance = 2e-3 if metric == "roc_auc" else 1e-9  # AUC from 1,000-bin histograms
        assert values[0] == pytest.approx(expected[metric], abs=tolerance), metric
        low, high = np.quantile(values[1:], [0.025, 0.975])
        assert low < values[0] < high, metric


def test_regression_metrics_match_sklearn() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(10, 3, 2000)
    pred = y + rng.normal(0, 1, 2000)
    totals = _stream(Layout("regression", 0, False, False), y, pred, None)
    expected = {
        "rmse": np.sqrt(skm.mean_squared_error(y, pred)),
        "mse": skm.mean_squared_error(y, pred),
        "mae": skm.mean_absolute_error(y, pred),
        "mape": skm.mean_absolute_percentage_error(y, pred),
        "r2": skm.r2_score(y, pred),
    }
    for metric, value in expected.items():
        assert totals.values(metric)[0] == pytest.approx(value, rel=1e-9), metric


def test_weights_depend_only_on_seed_and_row() -> None:
    a = bootstrap_weights(5, 1001, 10, 30)
    assert np.array_equal(a, bootstrap_weights(5, 1001, 10, 30))
    assert not np.array_equal(a, bootstrap_weights(6, 1001, 10, 30))
    assert not np.array_equal(a, bootstrap_weights(5, 1002, 10, 30))
    assert a.shape == (10, 30)
    draws = bootstrap_weights(1, 1, 20000, 20)
    assert draws.mean() == pytest.approx(1.0, abs=0.02)  # Poisson(1): mean 1, variance 1
    assert draws.var() == pytest.approx(1.0, abs=0.05)
    assert (draws == 0).mean() == pytest.approx(np.exp(-1), abs=0.01)


def test_grouped_sums_add_up_to_the_total() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 500)
    pred = rng.integers(0, 2, 500)
    layout = Layout("classification", 2, False, False)
    dense, cells = features(layout, y, pred, None)
    groups = rng.integers(0, 4, 500)
    per_group = Totals(layout, 0, 4)
    per_group.add_grouped(dense, cells, groups)
    whole = Totals(layout, 0)
    whole.add(dense, cells, None)
    assert per_group.merged([0, 1, 2, 3]).values("accuracy")[0] == pytest.approx(whole.values("accuracy")[0])
    assert per_group.rows().sum() == 500


def test_bootstrap_spread_matches_the_sampling_error() -> None:
    """The replicates' standard deviation of accuracy is the binomial standard error, and a paired
    difference of two models that err on the same rows has (nearly) none."""
    rng = np.random.default_rng(3)
    n = 20_000
    y = rng.integers(0, 2, n)
    right = rng.random(n) < 0.8
    pred = np.where(right, y, 1 - y)
    layout = Layout("classification", 2, False, False)
    totals = _stream(layout, y, pred, None, replicates=200, block=4096)
    spread = totals.values("accuracy")[1:].std()
    assert spread == pytest.approx(np.sqrt(0.8 * 0.2 / n), rel=0.2)
    twin = _stream(layout, y, pred, None, replicates=200, block=4096)
    assert np.allclose(totals.values("accuracy"), twin.values("accuracy"))


def test_flushing_float32_sums_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    from mmp.lifecycle import streaming

    assert streaming._poisson_table().max() * streaming._FLUSH_ROWS < 2**24  # exact float32 sums
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 3000)
    proba = np.column_stack([1 - (p := rng.random(3000)), p])
    layout = Layout("classification", 2, True, True)
    whole = _stream(layout, y, proba.argmax(axis=1), proba)
    monkeypatch.setattr(streaming, "_FLUSH_ROWS", 200)
    flushed = _stream(layout, y, proba.argmax(axis=1), proba)
    for metric in ("accuracy", "roc_auc", "log_loss"):
        assert np.allclose(whole.values(metric), flushed.values(metric), rtol=1e-6), metric
