"""A deliberately slow regressor for the status page's end-to-end test: every `predict` call waits
as many seconds as the environment variable `delay_env` says (none when unset, so training is not
slowed), then answers the training mean, like a model calling a slow feature store.

Tests train it through a normal recipe (`model.class_path: tests.status.slow_model.SlowRegressor`)
and log it with this module pickled by value (cloudpickle `register_pickle_by_value`, as mmp does
for its own in-artifact steps), so `mmp serve-api` loads it without importing the tests.
"""

from __future__ import annotations

import os
import time
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin


class SlowRegressor(RegressorMixin, BaseEstimator):  # type: ignore[misc]
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {"delay_env": [str]}

    def __init__(self, delay_env: str = "SLOW_MODEL_DELAY_S") -> None:
        self.delay_env = delay_env

    def fit(self, X: Any, y: Any) -> SlowRegressor:
        self.mean_ = float(np.mean(y))
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X: Any) -> np.ndarray:
        time.sleep(float(os.environ.get(self.delay_env) or 0))
        return np.full(X.shape[0], self.mean_)
