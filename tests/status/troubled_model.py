"""A deliberately troubled regressor for the status end-to-end tests, like a model calling a slow or
failing feature store: every `predict` call waits as many seconds as the environment variable
`delay_env` says (none when unset, so training is not slowed), and raises while the file named by
the variable `fail_env` exists (the server answers 500); otherwise it answers the training mean.

Tests train it through a normal recipe (`model.class_path: tests.status.troubled_model.
TroubledRegressor`) and log it with this module pickled by value (cloudpickle
`register_pickle_by_value`, as mmp does for its own in-artifact steps), so `mmp serve-api` loads it
without importing the tests.
"""

from __future__ import annotations

import os
import time
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin


class TroubledRegressor(RegressorMixin, BaseEstimator):  # type: ignore[misc]
    _parameter_constraints: ClassVar[dict[str, list[Any]]] = {"delay_env": [str], "fail_env": [str]}

    def __init__(
        self, delay_env: str = "TROUBLED_MODEL_DELAY_S", fail_env: str = "TROUBLED_MODEL_FAIL_FLAG"
    ) -> None:
        self.delay_env = delay_env
        self.fail_env = fail_env

    def fit(self, X: Any, y: Any) -> TroubledRegressor:
        self.mean_ = float(np.mean(y))
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X: Any) -> np.ndarray:
        time.sleep(float(os.environ.get(self.delay_env) or 0))
        flag = os.environ.get(self.fail_env)
        if flag and os.path.exists(flag):
            raise RuntimeError("the feature store is down")
        return np.full(X.shape[0], self.mean_)
