"""The recipe's `monitoring` block: how `mmp monitor` bins the reference and when it raises alerts.

Training copies the resolved block into the reference profile, so a model is monitored with the
settings it was trained with; `mmp monitor --recipe-path` overrides them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mmp.recipe.base import StrictModel


class ColumnMonitoring(StrictModel):
    """Per-column overrides of the drift thresholds (keys are column names)."""

    psi_threshold: float | None = Field(
        default=None, gt=0, description="PSI at or above which this column counts as drifted."
    )
    distance_threshold: float | None = Field(
        default=None,
        gt=0,
        description="Second distance (normalised Wasserstein for numbers, Jensen–Shannon for levels) at "
        "or above which this column counts as drifted.",
    )
    ignore: bool = Field(default=False, description="Never let this column drift or raise an alert.")


class Monitoring(StrictModel):
    """Drift and performance monitoring (`mmp monitor`): reference bins, thresholds and alert rules."""

    bins: int = Field(
        default=10,
        ge=2,
        le=100,
        description="Equal-frequency bins per numeric column in the reference profile.",
    )
    category_cap: int = Field(
        default=50,
        ge=1,
        le=1000,
        description="Most frequent levels kept per categorical column; the rest share an 'other' bucket.",
    )
    psi_threshold: float = Field(
        default=0.2,
        gt=0,
        description="PSI (population stability index on the reference bins) at or above which a column "
        "drifts. Folklore: < 0.1 stable, 0.1–0.2 watch, ≥ 0.2 act.",
    )
    distance_threshold: float = Field(
        default=0.1,
        gt=0,
        description="Second distance at or above which a column drifts: Wasserstein distance on the bins "
        "divided by the reference standard deviation (numbers), Jensen–Shannon distance, base 2 "
        "(levels and booleans). Evidently's defaults for large references.",
    )
    drift_rule: Literal["both", "either", "psi", "distance"] = Field(
        default="both",
        description="When a column drifts: `both` scores at or above their thresholds (default: PSI and the "
        "binned distances are both noisy on small windows, requiring both keeps an unshifted stream "
        "quiet), `either`, or one of them alone.",
    )
    drift_share_threshold: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Share of monitored input columns drifting at which the window's data counts as drifted.",
    )
    alert_on_column_drift: bool = Field(
        default=True, description="Raise an alert as soon as any one input column drifts."
    )
    missing_rate_increase: float = Field(
        default=0.1,
        gt=0,
        le=1,
        description="Alert when a column's missing rate exceeds its training rate by this much.",
    )
    out_of_range_rate: float = Field(
        default=0.05,
        gt=0,
        le=1,
        description="Alert when this share of a numeric column's values is outside the training min/max, "
        "or of a categorical column's values is a level training never saw.",
    )
    performance_drop: float = Field(
        default=0.05,
        gt=0,
        description="Alert when the task's primary metric (the first of its default metrics in the "
        "metric registry: accuracy for classifiers, RMSE for regressors), realized on labels, falls this "
        "much below its validation value (metrics where higher is better) or rises this much relative "
        "to it (0.05 = 5%, where lower is better); or when estimated accuracy falls this much below its "
        "validation value.",
    )
    calibration_tolerance: float = Field(
        default=0.05,
        gt=0,
        lt=1,
        description="Expected calibration error on the validation split up to which a classifier counts as "
        "calibrated; above it, estimated metrics are shown but flagged and never alert.",
    )
    min_window_rows: int = Field(
        default=100,
        ge=1,
        description="Windows with fewer rows get scores but raise no alert (their scores are noise).",
    )
    columns: dict[str, ColumnMonitoring] = Field(
        default_factory=dict, description="Per-column overrides, by column name."
    )

    def drifted(self, psi: float, distance: float, psi_limit: float, distance_limit: float) -> bool:
        """Apply `drift_rule` to one column's scores."""
        over_psi, over_distance = psi >= psi_limit, distance >= distance_limit
        rules = {
            "both": over_psi and over_distance,
            "either": over_psi or over_distance,
            "psi": over_psi,
            "distance": over_distance,
        }
        return rules[self.drift_rule]

    def thresholds(self, column: str) -> tuple[float, float, bool]:
        """(psi threshold, distance threshold, ignored) for one column."""
        override = self.columns.get(column)
        if override is None:
            return self.psi_threshold, self.distance_threshold, False
        return (
            override.psi_threshold or self.psi_threshold,
            override.distance_threshold or self.distance_threshold,
            override.ignore,
        )
