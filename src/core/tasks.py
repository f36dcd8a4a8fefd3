"""The one list of tasks mmp trains: recipes, feature contracts, the CLI and the scaffold all use it.

`Task` is a `StrEnum`, so a member *is* its string (`Task.regression == "regression"`, and it
formats, hashes and serialises as the plain string): recipes, contracts written by older versions
and MLflow tags keep reading and writing the same values. Imports only the standard library, so
the CLI can use it for `--task` without slowing `mmp --help`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

EstimatorKind = Literal["classifier", "regressor", "clusterer"]


class Task(StrEnum):
    """What a model predicts."""

    classification = "classification"
    regression = "regression"
    timeseries = "timeseries"
    clustering = "clustering"

    @property
    def summary(self) -> str:
        """One line for prompts and help: what a user picks this task for."""
        return _SUMMARIES[self]

    @property
    def has_target(self) -> bool:
        """Every task but clustering learns a target column."""
        return self is not Task.clustering

    @property
    def estimator_kind(self) -> EstimatorKind:
        """The kind of scikit-learn estimator the task needs (its `_estimator_type`)."""
        return _KINDS[self]


_SUMMARIES: dict[Task, str] = {
    Task.classification: "predict a class (text, true/false, a few whole numbers)",
    Task.regression: "predict a number",
    Task.timeseries: "predict a number over time (temporal split, calendar features)",
    Task.clustering: "group rows into segments (no target)",
}
_KINDS: dict[Task, EstimatorKind] = {
    Task.classification: "classifier",
    Task.regression: "regressor",
    Task.timeseries: "regressor",
    Task.clustering: "clusterer",
}

TASKS: tuple[Task, ...] = tuple(Task)
