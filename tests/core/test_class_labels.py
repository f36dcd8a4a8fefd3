"""Labels derived from probabilities are exactly `predict`'s, or not derived at all."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import ExtraTreesClassifier, HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import FixedThresholdClassifier

from mmp.core.class_labels import labels_from_probabilities


def _data(classes: list[object], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(400, 4))
    score = X[:, 0] + 0.5 * X[:, 1] * X[:, 2]
    index = np.digitize(score, np.quantile(score, np.linspace(0, 1, len(classes) + 1)[1:-1]))
    return X, np.asarray(classes, dtype=object)[index]


@pytest.mark.parametrize(
    "estimator",
    [
        RandomForestClassifier(n_estimators=15, max_depth=4, random_state=0),
        ExtraTreesClassifier(n_estimators=15, random_state=0),
    ],
)
@pytest.mark.parametrize("classes", [["no", "yes"], [0, 1, 2], ["a", "b", "c", "d"]])
def test_forest_labels_equal_predict(estimator: object, classes: list[object]) -> None:
    X, y = _data(classes)
    fitted = estimator.fit(X, y.astype(type(classes[0])))  # type: ignore[attr-defined]
    X_new = np.random.default_rng(1).normal(size=(2000, 4))
    derived = labels_from_probabilities(fitted, fitted.predict_proba(X_new))
    assert derived is not None
    expected = fitted.predict(X_new)
    assert derived.dtype == expected.dtype
    np.testing.assert_array_equal(derived, expected)


def test_lightgbm_labels_equal_predict() -> None:
    lightgbm = pytest.importorskip("lightgbm")
    for classes in (["no", "yes"], ["a", "b", "c"]):
        X, y = _data(classes)
        model = lightgbm.LGBMClassifier(n_estimators=20, verbose=-1).fit(X, y.astype(str))
        X_new = np.random.default_rng(2).normal(size=(1000, 4))
        derived = labels_from_probabilities(model, model.predict_proba(X_new))
        assert derived is not None
        np.testing.assert_array_equal(derived, model.predict(X_new))


class _Overridden(RandomForestClassifier):
    def predict(self, X: object) -> np.ndarray:
        return super().predict(X)[::-1]


@pytest.mark.parametrize(
    "estimator",
    [
        # Labels from a margin compared with 0, or from a threshold: not the argmax of predict_proba.
        LogisticRegression(),
        HistGradientBoostingClassifier(max_iter=5),
        FixedThresholdClassifier(LogisticRegression(), threshold=0.9),
        _Overridden(n_estimators=5, random_state=0),
    ],
)
def test_other_estimators_are_not_derived(estimator: object) -> None:
    X, y = _data(["no", "yes"])
    fitted = estimator.fit(X, y)  # type: ignore[attr-defined]
    assert labels_from_probabilities(fitted, fitted.predict_proba(X)) is None


def test_multi_output_forest_is_not_derived() -> None:
    X, y = _data(["no", "yes"])
    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, np.column_stack([y, y[::-1]]))
    assert labels_from_probabilities(forest, forest.predict_proba(X)) is None
