"""The promotion policy: when a challenger may take an alias from its champion.

Every threshold that is set must hold (MLflow `MetricThreshold` semantics). Gains are measured on
the *same rows* for both models and judged by the lower bound of a paired bootstrap interval, so a
weekly retrain that is better only by noise does not flap the alias. The decision itself lives in
`mmp.lifecycle.decision`, a pure function of two evaluations and this policy.
"""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from mmp.core.metrics import canonical_metric, get_metric
from mmp.recipe.base import StrictModel

# Metrics `mmp evaluate` computes in one streaming pass (sums, confusion matrices, score histograms).
STREAMING_METRICS = (
    "accuracy",
    "balanced_accuracy",
    "f1_macro",
    "f1_weighted",
    "precision_macro",
    "recall_macro",
    "roc_auc",
    "log_loss",
    "rmse",
    "mae",
    "mse",
    "mape",
    "r2",
)


def _metric_name(value: str) -> str:
    name = canonical_metric(value)
    if name not in STREAMING_METRICS:
        raise ValueError(
            f"'{value}' cannot be used for promotion; choose from {', '.join(STREAMING_METRICS)}"
        )
    return name


class Guardrail(StrictModel):
    """A second metric the challenger may not worsen by more than `max_worsening` (point estimates)."""

    metric: str = Field(description="Metric name or alias; its direction is known (e.g. log_loss: lower).")
    max_worsening: float = Field(
        default=0.0, ge=0, description="Largest allowed worsening, in the metric's units (0: none)."
    )

    @field_validator("metric")
    @classmethod
    def _known(cls, value: str) -> str:
        return _metric_name(value)


class SegmentRule(StrictModel):
    """Per-segment non-regression: no segment with enough rows may get worse by more than allowed."""

    column: str | None = Field(
        default=None, description="Column to segment by (e.g. store_id); `--segment-by` overrides it."
    )
    min_rows: int = Field(
        default=200, gt=0, description="Segments with fewer rows are pooled as 'other' and not judged."
    )
    max_worsening: float = Field(
        default=0.02, ge=0, description="Largest allowed worsening of the policy metric in any segment."
    )


class PromotionPolicy(StrictModel):
    """When `mmp promote`/`mmp retrain` may move an alias to a new version (every set rule must hold)."""

    metric: str | None = Field(
        default=None,
        description="Metric that decides (canonical name or alias, direction known). "
        "Default: the recipe's first metric.",
    )
    floor: float | None = Field(
        default=None,
        description="Absolute bar the challenger must reach (at least, or at most for "
        "lower-is-better metrics). Alone decides when the alias has no version yet.",
    )
    min_absolute_gain: float = Field(
        default=0.0,
        ge=0,
        description="The lower bound of the paired gain interval must be at least this (and above 0).",
    )
    min_relative_gain: float | None = Field(
        default=None,
        ge=0,
        description="The lower bound of the paired relative gain (gain / |champion|) must be at least "
        "this, e.g. 0.01 for 1 %.",
    )
    confidence: float = Field(
        default=0.95, gt=0.5, lt=1, description="Confidence level of the paired bootstrap interval."
    )
    bootstrap_samples: int = Field(
        default=200, ge=20, le=2000, description="Poisson bootstrap replicates (more: tighter, slower)."
    )
    guardrails: list[Guardrail] = Field(
        default_factory=list, description="Metrics that may not get worse by more than a set amount."
    )
    segments: SegmentRule | None = Field(
        default=None, description="Per-segment non-regression of the policy metric."
    )

    @field_validator("metric")
    @classmethod
    def _known(cls, value: str | None) -> str | None:
        return None if value is None else _metric_name(value)

    @model_validator(mode="after")
    def _distinct_guardrails(self) -> PromotionPolicy:
        names = [g.metric for g in self.guardrails]
        if len(set(names)) != len(names):
            raise ValueError("guardrails: each metric may appear once")
        return self

    def resolved_metric(self, default: str) -> str:
        """The deciding metric: this policy's, or `default` (the recipe's first metric)."""
        return self.metric or _metric_name(default)


def greater_is_better(metric: str) -> bool:
    return get_metric(metric).greater_is_better
