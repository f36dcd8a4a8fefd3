"""Turn records into the model's input frame and call the pipeline: shared by serving and batch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mmp.core.contract import FeatureContract

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


@dataclass(frozen=True)
class Predictions:
    """Model output for n rows: labels/values, and class probabilities for classifiers."""

    values: np.ndarray
    probabilities: np.ndarray | None
    classes: list[Any] | None


def model_input(contract: FeatureContract, frame: pd.DataFrame) -> pd.DataFrame:
    """The pipeline's input columns in training order, with training dtypes restored where safe.

    JSON and CSV lose dtypes (integers arrive as floats, dates as strings); the pipeline should see
    what it saw in training.
    """
    import pandas as pd

    X = frame.loc[:, contract.model_input_columns]
    converted: dict[str, Any] = {}
    for name in contract.model_input_columns:
        spec = contract.column(name)
        series = X[name]
        if spec.dtype == "datetime":
            if not pd.api.types.is_datetime64_any_dtype(series):
                converted[name] = pd.to_datetime(series, errors="coerce")
        elif spec.dtype == "number" and not pd.api.types.is_float_dtype(series):
            converted[name] = pd.to_numeric(series, errors="coerce").astype("float64")
        elif spec.dtype == "integer" and series.dtype != spec.pandas_dtype:
            numeric = pd.to_numeric(series, errors="coerce")
            converted[name] = numeric if numeric.isna().any() else numeric.astype(spec.pandas_dtype)
    if converted:
        X = X.assign(**converted)
    return X


def predict(
    pipeline: Any, contract: FeatureContract, X: pd.DataFrame, probabilities: bool = True
) -> Predictions:
    """Call the pipeline once for all rows of `X` (already shaped by `model_input`).

    A classifier's labels and probabilities come from one pass through the preprocessing steps:
    `Pipeline.predict` and `Pipeline.predict_proba` would each transform `X` again, which is most of
    the time a small request takes. The results are the same (a pipeline's predict is its final
    estimator's predict on the transformed input)."""
    proba = None
    if probabilities and contract.task == "classification" and hasattr(pipeline, "predict_proba"):
        steps = getattr(pipeline, "steps", None)
        if steps and len(steps) > 1 and hasattr(steps[-1][1], "predict_proba"):
            transformed = pipeline[:-1].transform(X)
            final = steps[-1][1]
            values = final.predict(transformed)
            proba = final.predict_proba(transformed)
        else:
            values = pipeline.predict(X)
            proba = pipeline.predict_proba(X)
    else:
        values = pipeline.predict(X)
    classes = list(getattr(pipeline, "classes_", [])) or contract.classes
    return Predictions(values=values, probabilities=proba, classes=classes)
