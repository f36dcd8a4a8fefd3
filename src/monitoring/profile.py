"""The reference profile: what the training data and the model's answers looked like, as plain JSON.

`mmp train` writes it beside the feature contract (`reference_profile.json` in the run, and in the
model's MLmodel metadata, as compact JSON, so every copy of the model carries it);
`mmp monitor --reference DATA` computes one for models trained before. It holds, per input column,
the bins every window is compared against (numeric: equal-frequency edges and counts, min/max/mean/
std; categorical: the most frequent levels and an "other" bucket; boolean: counts), the same for the
prediction, and what label-free performance estimation needs (the validation split's accuracy and
calibration error).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mmp.core.contract import FeatureContract
from mmp.core.errors import MmpError
from mmp.monitoring.sketch import (
    ColumnBins,
    ColumnCounts,
    Kind,
    count,
    level_bins,
    level_text,
    numeric_bins,
)
from mmp.recipe.monitoring import Monitoring

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from mmp.core.scoring import Predictions

PROFILE_FILE = "reference_profile.json"
PROFILE_FORMAT = 1
PREDICTION = "prediction"
CONFIDENCE = "confidence"  # the predicted class's probability (classifiers with probabilities)
PROBABILITY_PREFIX = "probability_"  # as batch-inference and the prediction log name them
CALIBRATION_BINS = 10


class ColumnProfile(BaseModel):
    """One column of the reference: its bins and counts, and summary statistics."""

    model_config = ConfigDict(extra="forbid")

    kind: Kind
    rows: int
    missing: int
    counts: list[int] = Field(description="Rows per bin (numeric) or per level, then 'other' (levels).")
    edges: list[float] | None = Field(default=None, description="Numeric: inner bin edges, ascending.")
    levels: list[str] | None = Field(default=None, description="Levels kept (as text), most frequent first.")
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    std: float | None = None
    range_low: float | None = Field(default=None, description="Contract min (out-of-range check).")
    range_high: float | None = Field(default=None, description="Contract max (out-of-range check).")
    known_levels: list[str] | None = Field(
        default=None,
        description="Contract levels (unseen-level check); null when the contract's list is partial.",
    )

    @field_validator("edges")
    @classmethod
    def _ascending(cls, edges: list[float] | None) -> list[float] | None:
        if edges is not None and any(b <= a for a, b in itertools.pairwise(edges)):
            raise ValueError("bin edges must be strictly ascending")
        return edges

    @property
    def missing_rate(self) -> float:
        return self.missing / self.rows if self.rows else 0.0

    def bins(self) -> ColumnBins:
        if self.kind == "numeric":
            return ColumnBins("numeric", tuple(self.edges or ()), low=self.range_low, high=self.range_high)
        known = frozenset(self.known_levels) if self.known_levels is not None else None
        return ColumnBins(self.kind, levels=tuple(self.levels or ()), known=known)


class Calibration(BaseModel):
    """How well the classifier's confidence matched its accuracy on the validation split."""

    model_config = ConfigDict(extra="forbid")

    rows: int
    accuracy: float = Field(description="Realized accuracy on the validation split.")
    expected_accuracy: float = Field(description="Mean confidence (predicted class probability).")
    ece: float = Field(description="Expected calibration error over 10 equal-width confidence bins.")


class Performance(BaseModel):
    """Validation-split figures the realized and estimated window metrics are compared to."""

    model_config = ConfigDict(extra="forbid")

    rows: int = 0
    metrics: dict[str, float] = Field(
        default_factory=dict,
        description="The task's metrics on the validation split, by their registry names "
        "(mmp.core.metrics), as realized window metrics are named.",
    )
    accuracy: float | None = None
    mae: float | None = None
    rmse: float | None = None
    calibration: Calibration | None = None

    def baseline(self, name: str) -> float | None:
        """The validation value of a metric (profiles written before `metrics` carry three)."""
        if name in self.metrics:
            return self.metrics[name]
        legacy: dict[str, float | None] = {"accuracy": self.accuracy, "mae": self.mae, "rmse": self.rmse}
        return legacy.get(name)


class ReferenceProfile(BaseModel):
    """Everything `mmp monitor` compares a window against."""

    model_config = ConfigDict(extra="forbid")

    format_version: int = PROFILE_FORMAT
    kind: Literal["mmp.reference_profile"] = "mmp.reference_profile"
    source: str = Field(description="What the profile was computed from (training split or a file).")
    rows: int
    contract: FeatureContract
    settings: Monitoring
    columns: dict[str, ColumnProfile]
    prediction: dict[str, ColumnProfile] = Field(
        default_factory=dict, description="`prediction`, and `confidence` for classifiers."
    )
    performance: Performance = Field(default_factory=Performance)

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=1)

    @classmethod
    def from_json(cls, text: str, where: str) -> ReferenceProfile:
        try:
            return cls.model_validate_json(text)
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"]) or "<root>"
            raise MmpError(
                f"{where}: not a valid reference profile: {loc}: {first['msg']}",
                "compute one with mmp monitor --reference DATA",
            ) from None

    @classmethod
    def read(cls, path: str | Path) -> ReferenceProfile:
        file = Path(path)
        if not file.is_file():
            raise MmpError(
                f"reference profile not found: {path}", "compute one with mmp monitor --reference DATA"
            )
        return cls.from_json(file.read_text(encoding="utf-8"), str(path))


def profiled_columns(contract: FeatureContract) -> list[str]:
    """Model inputs that get drift scores: every feature but dates (their range moves by design)."""
    return [c for c in contract.model_input_columns if contract.column(c).dtype != "datetime"]


def column_kind(contract: FeatureContract, name: str) -> Kind:
    spec = contract.column(name)
    if spec.dtype == "boolean":
        return "boolean"
    if spec.categorical or spec.dtype == "string":
        return "categorical"
    return "numeric"


def profile_column(
    array: pa.Array | pa.ChunkedArray,
    kind: Kind,
    settings: Monitoring,
    range_: tuple[float | None, float | None] = (None, None),
    known: list[str] | None = None,
) -> ColumnProfile:
    """Bins chosen from `array`, then `array` counted into them (the same code windows go through)."""
    from mmp.monitoring.sketch import as_float

    if kind == "numeric":
        bins = numeric_bins(as_float(array), settings.bins, *range_)
    else:
        cap = 2 if kind == "boolean" else settings.category_cap
        bins = level_bins(array, cap, kind, frozenset(known) if known is not None else None)
    counts = count(bins, array)
    return _from_counts(bins, counts, known)


def _from_counts(bins: ColumnBins, counts: ColumnCounts, known: list[str] | None) -> ColumnProfile:
    numeric = bins.kind == "numeric"
    return ColumnProfile(
        kind=bins.kind,
        rows=counts.rows,
        missing=counts.missing,
        counts=counts.counts,
        edges=list(bins.edges) if numeric else None,
        levels=None if numeric else list(bins.levels),
        min=counts.low if numeric and counts.present else None,
        max=counts.high if numeric and counts.present else None,
        mean=counts.mean() if numeric else None,
        std=counts.std() if numeric else None,
        range_low=bins.low,
        range_high=bins.high,
        known_levels=known,
    )


def build_profile(
    contract: FeatureContract,
    reference: pd.DataFrame,
    settings: Monitoring,
    source: str,
    predictions: tuple[np.ndarray, np.ndarray | None] | None = None,
    validation: tuple[Any, np.ndarray, np.ndarray | None] | None = None,
) -> ReferenceProfile:
    """Profile the reference rows (and the model's answers on them).

    `predictions` is (predicted values, class probabilities or None) for the reference rows;
    `validation` is (true labels, predicted values, probabilities or None) on the validation split.
    """
    import pyarrow as pa

    columns: dict[str, ColumnProfile] = {}
    for name in profiled_columns(contract):
        if name not in reference.columns:
            raise MmpError(f"reference data has no column '{name}' (a model input)", "pass the training data")
        spec = contract.column(name)
        kind = column_kind(contract, name)
        known = None
        if kind == "categorical" and spec.categories is not None and not spec.categories_truncated:
            known = [level_text(v) for v in spec.categories]
        elif kind == "boolean":
            known = ["false", "true"]
        array = pa.array(reference[name], from_pandas=True)
        columns[name] = profile_column(array, kind, settings, (spec.min, spec.max), known)
    prediction: dict[str, ColumnProfile] = {}
    if predictions is not None:
        values, proba = predictions
        classifier = contract.task == "classification"
        prediction[PREDICTION] = profile_column(
            pa.array(values, from_pandas=True), "categorical" if classifier else "numeric", settings
        )
        if proba is not None:
            prediction[CONFIDENCE] = profile_column(pa.array(proba.max(axis=1)), "numeric", settings)
    performance = _performance(contract, validation)
    return ReferenceProfile(
        source=source,
        rows=len(reference),
        contract=contract,
        settings=settings,
        columns=columns,
        prediction=prediction,
        performance=performance,
    )


def _performance(contract: FeatureContract, validation: tuple[Any, Any, Any] | None) -> Performance:
    import numpy as np

    from mmp.monitoring.realized import score_rows

    if validation is None or len(validation[0]) == 0:
        return Performance()
    y_true, y_pred, proba = validation
    metrics = score_rows(contract, y_true, y_pred, None if proba is None else np.asarray(proba))
    if contract.task == "classification":
        correct = np.asarray([level_text(a) == level_text(b) for a, b in zip(y_true, y_pred, strict=True)])
        out = Performance(rows=len(correct), metrics=metrics, accuracy=float(correct.mean()))
        if proba is not None:
            out.calibration = calibration(correct, np.asarray(proba).max(axis=1))
        return out
    if contract.task in ("regression", "timeseries"):
        return Performance(
            rows=len(y_true), metrics=metrics, mae=metrics.get("mae"), rmse=metrics.get("rmse")
        )
    return Performance()


def calibration(correct: np.ndarray, confidence: np.ndarray) -> Calibration:
    """Expected calibration error of the top-class confidence (Guo et al. 2017, 10 equal-width bins)."""
    import numpy as np

    index = np.minimum((confidence * CALIBRATION_BINS).astype(int), CALIBRATION_BINS - 1)
    ece = 0.0
    for b in range(CALIBRATION_BINS):
        member = index == b
        if member.any():
            ece += member.mean() * abs(correct[member].mean() - confidence[member].mean())
    return Calibration(
        rows=len(correct),
        accuracy=float(correct.mean()),
        expected_accuracy=float(confidence.mean()),
        ece=float(ece),
    )


def profile_from_model(model_path: Path) -> ReferenceProfile | None:
    """The profile stored in a model's MLmodel metadata, if it was trained with one."""
    from mlflow.models import Model

    meta = (Model.load(str(model_path)).metadata or {}).get("mmp") or {}
    raw = meta.get("reference_profile")
    compact = meta.get("reference_profile_json")
    if isinstance(compact, str):
        try:
            raw = {**json.loads(compact), "contract": meta.get("feature_contract")}
        except (json.JSONDecodeError, TypeError):
            return None
    if raw is None:
        return None
    try:
        return ReferenceProfile.model_validate(raw)
    except ValidationError:
        return None


def compact_profile(profile: ReferenceProfile) -> str:
    """The profile as the MLmodel carries it (`reference_profile_json`): one line of JSON without
    the contract, which the metadata holds once already; `profile_from_model` puts it back."""
    return json.dumps(profile.model_dump(mode="json", exclude={"contract"}), separators=(",", ":"))


def training_profile(
    contract: FeatureContract,
    settings: Monitoring,
    train: pd.DataFrame,
    validation: pd.DataFrame,
    pipeline: Any,
    validation_predictions: Predictions | None = None,
) -> ReferenceProfile:
    """The profile `mmp train` writes: training-split inputs and answers, validation-split calibration.

    `validation_predictions` are the pipeline's answers on `validation` when the caller already has
    them (training scores the split for its metrics): the split is then not scored a second time.
    """
    import numpy as np

    from mmp.core.scoring import predict

    inputs = contract.model_input_columns
    predictions = None
    if contract.task != "clustering" or hasattr(pipeline, "predict"):
        out = predict(pipeline, contract, train[inputs])
        predictions = (np.asarray(out.values), out.probabilities)
    checked = None
    target = contract.target_column
    if target and len(validation) and contract.task != "clustering":
        val = validation_predictions or predict(pipeline, contract, validation[inputs])
        checked = (validation[target].to_numpy(), np.asarray(val.values), val.probabilities)
    return build_profile(contract, train, settings, "training split", predictions, checked)
