"""A real estimator with a real bug, for testing how the server reports model failures."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.linear_model import Ridge


class FragileRegressor(Ridge):
    """Ridge regression that crashes (RuntimeError, not a ValueError) on values beyond 1e6."""

    def predict(self, X: Any) -> Any:
        if np.any(np.abs(np.asarray(X, dtype=float)) > 1e6):
            raise RuntimeError("simulated model bug at /srv/secret/path.py line 12")
        return super().predict(X)
