"""Transformers that are shipped *inside* the model artifact.

This module is pickled by value (cloudpickle `register_pickle_by_value`), so a logged model loads
where mmp is not installed. Keep it standalone: import only numpy, pandas and scikit-learn, and
never another mmp module.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin, clone


class CalendarFeatures(TransformerMixin, BaseEstimator):
    """Turn timestamp columns into numeric calendar features (year, month, day of week, ...)."""

    def __init__(self, features: tuple[str, ...] = ("year", "month", "day", "dayofweek")) -> None:
        self.features = features

    def fit(self, X, y=None):
        frame = pd.DataFrame(X)
        self.columns_ = [str(c) for c in frame.columns]
        self.n_features_in_ = frame.shape[1]
        return self

    def transform(self, X):
        frame = pd.DataFrame(X)
        out = {}
        for column in frame.columns:
            ts = pd.to_datetime(frame[column], errors="coerce", utc=False)
            for feature in self.features:
                out[f"{column}_{feature}"] = _calendar(ts, feature)
        return pd.DataFrame(out, index=frame.index).to_numpy(dtype=float)

    def get_feature_names_out(self, input_features=None):
        columns = input_features if input_features is not None else self.columns_
        return np.asarray([f"{c}_{f}" for c in columns for f in self.features], dtype=object)


# Recipe names -> pandas accessor names (pandas 3 deprecates the unseparated spellings).
_ATTRIBUTES = {"dayofweek": "day_of_week", "dayofyear": "day_of_year"}


def _calendar(ts: pd.Series, feature: str) -> pd.Series:
    dt = ts.dt
    if feature == "week":
        return dt.isocalendar().week.astype("float64")
    if feature == "is_weekend":
        return (dt.day_of_week >= 5).astype("float64").where(ts.notna())
    if feature in ("is_month_start", "is_month_end"):
        return getattr(dt, feature).astype("float64").where(ts.notna())
    return getattr(dt, _ATTRIBUTES.get(feature, feature)).astype("float64")


def as_object(frame):
    """Categorical columns as plain objects, so imputers and encoders accept str, bool and category.

    Every missing marker (None, pd.NA, NaT) becomes NaN, the one missing value imputers recognise.
    """
    objects = pd.DataFrame(frame).astype(object)
    return objects.where(objects.notna(), np.nan)


class EncodedLabelsClassifier(ClassifierMixin, BaseEstimator):
    """Fit a classifier on labels 0..k-1 and map its predictions back to the original labels.

    XGBoost refuses string or non-contiguous class labels; this keeps `predict` returning the labels
    the user trained on and `classes_` in the same order as `predict_proba`'s columns.
    """

    def __init__(self, estimator=None) -> None:
        self.estimator = estimator

    def fit(self, X, y, **fit_params):
        self.classes_, codes = np.unique(np.asarray(y), return_inverse=True)
        self.estimator_ = clone(self.estimator).fit(X, codes, **fit_params)
        return self

    def predict(self, X):
        return self.classes_[np.asarray(self.estimator_.predict(X)).astype(int)]

    def predict_proba(self, X):
        return self.estimator_.predict_proba(X)
