"""A classifier's predicted labels from the class probabilities already computed, when that is exact.

Scoring, evaluation and training often need both a classifier's labels and its probabilities. For
some estimators `predict` is *defined* as the argmax of `predict_proba` (scikit-learn's forests:
`classes_.take(argmax(predict_proba(X)))`; LightGBM's classifier: `argmax(predict_proba(X))`
mapped back through its label encoder), so calling both walks every tree twice for the same answer.
For those, and only those, the labels are derived from the probabilities here; everything else
(thresholded classifiers, margins compared with 0, calibrated wrappers, subclasses overriding either
method) returns None and the caller calls `predict`, so the answer never differs from `predict`'s.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

# Classes whose own `predict` is `argmax(predict_proba(X))` mapped to `classes_`, each with the
# condition under which that holds. Named by where the methods are defined, so a subclass that
# overrides either method is not matched, and nothing is imported to check.
_ARGMAX_OF_PROBA: dict[str, Callable[[Any], bool]] = {
    "sklearn.ensemble._forest.ForestClassifier": lambda est: getattr(est, "n_outputs_", None) == 1,
    # A callable objective makes LightGBM's predict_proba return raw scores.
    "lightgbm.sklearn.LGBMClassifier": lambda est: (
        not (callable(getattr(est, "objective", None)) or callable(getattr(est, "_objective", None)))
    ),
}


def _owner(cls: type, method: str) -> str | None:
    for klass in cls.__mro__:
        if method in vars(klass):
            return f"{klass.__module__}.{klass.__qualname__}"
    return None


def labels_from_probabilities(estimator: Any, proba: Any) -> np.ndarray | None:
    """`estimator.predict(X)` computed from `proba = estimator.predict_proba(X)`, or None when the
    estimator's labels are not exactly the argmax of its probabilities (then call `predict`)."""
    import numpy as np

    owner = _owner(type(estimator), "predict")
    condition = _ARGMAX_OF_PROBA.get(owner or "")
    if condition is None or _owner(type(estimator), "predict_proba") != owner or not condition(estimator):
        return None
    classes = getattr(estimator, "classes_", None)
    proba = np.asarray(proba)
    if classes is None or proba.ndim != 2 or proba.shape[1] != len(classes):
        return None
    labels: np.ndarray = np.asarray(classes).take(np.argmax(proba, axis=1), axis=0)
    return labels
