"""Turn records into the model's input frame and call the pipeline: shared by serving and batch.

Values are converted by `mmp.core.conformance`, the one definition of what a column accepts; the
frame handed to the pipeline has exactly the dtypes and missing values it was trained with.
"""

from __future__ import annotations

import warnings
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mmp.core.class_labels import labels_from_probabilities
from mmp.core.contract import FeatureContract
from mmp.core.errors import MmpError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from mmp.core.conformance import ColumnRule

CONFORM_STEP = "conform"
Cache = dict[int, tuple["weakref.ref[Any]", Any]]
_rules: Cache = {}
_bodies: Cache = {}
_plans: Cache = {}


@dataclass(frozen=True)
class Predictions:
    """Model output for n rows: labels/values, and class probabilities for classifiers."""

    values: np.ndarray
    probabilities: np.ndarray | None
    classes: list[Any] | None


class Unconformable(MmpError):
    """Input values the contract refuses: (row position, column, refusal code, message) of the first."""

    def __init__(self, row: int, column: str, code: str, message: str) -> None:
        super().__init__(
            f"row {row + 1}: column '{column}': {message} [{code}]",
            "every mmp surface refuses this value (docs/input-rules.md lists what each column accepts)",
        )
        self.row, self.column, self.code, self.reason = row, column, code, message


def input_rules(contract: FeatureContract) -> list[ColumnRule]:
    """The conformance rules of the model's input columns, computed once per contract object."""
    rules: list[ColumnRule] = _per_object(
        _rules, contract, lambda: contract.rules(contract.model_input_columns)
    )
    return rules


def records_frame(contract: FeatureContract, rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The model's input frame from records already accepted by `conformance.convert` (serving)."""
    from mmp.core.conformance import frame_from_records

    return frame_from_records(input_rules(contract), rows)


def columns_frame(contract: FeatureContract, columns: dict[str, list[Any]]) -> pd.DataFrame:
    """The model's input frame from columns of converted values (`conformance.convert_column`)."""
    from mmp.core.conformance import frame_from_columns

    return frame_from_columns(input_rules(contract), columns)


def model_input(contract: FeatureContract, frame: pd.DataFrame) -> pd.DataFrame:
    """The pipeline's input columns in training order and dtypes, from values of any dtype.

    Raises `Unconformable` for the first value the contract refuses.
    """
    from mmp.core.conformance import conform_frame

    conformed = conform_frame(input_rules(contract), frame)
    first = conformed.first()
    if first is not None:
        row, column, refusal = first
        raise Unconformable(row, column, refusal.code, refusal.message)
    return conformed.frame


def model_body(pipeline: Any) -> Any:
    """The pipeline without its `ConformInput` step, for input `model_input` already converted.

    Models trained before that step existed are returned whole.
    """
    steps = getattr(pipeline, "steps", None)
    if not steps or steps[0][0] != CONFORM_STEP:
        return pipeline
    return _per_object(_bodies, pipeline, lambda: pipeline[1:])


def predict(
    pipeline: Any, contract: FeatureContract, X: pd.DataFrame, probabilities: bool = True
) -> Predictions:
    """Call the pipeline once for all rows of `X` (already shaped by `model_input`/`records_frame`).

    A classifier's labels and probabilities come from one pass through the preprocessing steps:
    `Pipeline.predict` and `Pipeline.predict_proba` would each transform `X` again, which is most of
    the time a small request takes. The results are the same (a pipeline's predict is its final
    estimator's predict on the transformed input)."""
    import numpy as np

    body = model_body(pipeline)
    # Extreme (but accepted) values overflow inside scalers and float32 trees: numpy stays quiet
    # (its error state is per thread) and scikit-learn's own input check reports them.
    with (
        np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"),
        warnings.catch_warnings(),
    ):
        # An unseen level in a column whose encoder ignores them is accepted by policy (see
        # `conformance`): scikit-learn's per-call warning about it is noise, not news.
        warnings.filterwarnings("ignore", message="Found unknown categories", category=UserWarning)
        proba = None
        steps = getattr(body, "steps", None)
        final, transformed = body, X
        if steps and len(steps) > 1:  # Pipeline.predict is its last step's predict on this input
            transformed = preprocess(body, X)
            final = steps[-1][1]
        if probabilities and contract.task == "classification" and hasattr(final, "predict_proba"):
            proba = final.predict_proba(transformed)
            # A forest's labels are the argmax of these probabilities: no second walk of the trees.
            values = labels_from_probabilities(final, proba)
            if values is None:
                values = final.predict(transformed)
        else:
            values = final.predict(transformed)
    classes = list(getattr(pipeline, "classes_", [])) or contract.classes
    return Predictions(values=values, probabilities=proba, classes=classes)


def preprocess(body: Any, X: pd.DataFrame) -> Any:
    """`body[:-1].transform(X)`: through the compiled plan (`mmp.core.fast_preprocess`) when the
    preprocessing has one and X's columns are plain numbers, else through scikit-learn."""
    preprocessing, plan = _per_object(_plans, body, lambda: _compiled(body[:-1]))
    if plan is not None:
        transformed = plan.transform(X)
        if transformed is not None:
            return transformed
    return preprocessing.transform(X)


def _compiled(preprocessing: Any) -> tuple[Any, Any]:
    from mmp.core.fast_preprocess import compile_preprocessing

    return preprocessing, compile_preprocessing(preprocessing)


def _per_object(cache: Cache, owner: Any, build: Callable[[], Any]) -> Any:
    """`build()` once per live `owner` object (a contract, a pipeline), keyed by identity: both are
    unhashable and immutable once loaded.

    An entry holds its owner weakly and leaves with it: a server that swaps models for weeks keeps
    no replaced pipeline alive through this cache (it held up to 64 of them, each as large as its
    model). The values never refer back to their owner, or the owner could never leave.
    """
    key = id(owner)
    cached = cache.get(key)
    if cached is not None and cached[0]() is owner:
        return cached[1]
    value = build()

    def forget(ref: weakref.ref[Any]) -> None:
        # Runs as the owner is freed (in any thread, maybe inside a collection): no lock to wait on.
        # Its id cannot be reused before this returns, so only its own entry can sit under `key`.
        if cache.get(key, (None,))[0] is ref:
            cache.pop(key, None)

    cache[key] = (weakref.ref(owner, forget), value)
    return value
