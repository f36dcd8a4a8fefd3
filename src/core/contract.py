"""The feature contract: what a model expects, written by `mmp train`, read by serving and batch.

It travels inside the model (MLmodel metadata under `mmp.feature_contract`) and as
`feature_contract.json` in the run, so any copy of the model — a run, a registry version, an
exported folder — carries the schema requests and batch inputs are checked against.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mmp.core.tasks import Task

ColumnRole = Literal["entity", "feature", "timestamp", "target"]
ColumnType = Literal["integer", "number", "boolean", "string", "datetime"]
CONTRACT_FORMAT = 1
CONTRACT_FILE = "feature_contract.json"
CATEGORY_CAP = 200


class ColumnContract(BaseModel):
    """One column as training saw it."""

    model_config = ConfigDict(extra="forbid")

    name: str
    role: ColumnRole
    dtype: ColumnType = Field(description="Logical type used for request schemas.")
    pandas_dtype: str = Field(description="The exact pandas dtype seen in training, e.g. int64.")
    nullable: bool = Field(description="True only if training saw a missing value here.")
    categorical: bool = False
    categories: list[Any] | None = Field(
        default=None, description=f"Sorted levels seen in training (up to {CATEGORY_CAP})."
    )
    categories_truncated: bool = Field(
        default=False, description="More levels than the cap were seen; the list is partial."
    )
    min: float | None = None
    max: float | None = None
    example: Any = Field(default=None, description="A value from the training data, for docs.")


class FeatureContract(BaseModel):
    """Every column's role and type, and what the model's input and output look like."""

    model_config = ConfigDict(extra="forbid")

    format_version: int = CONTRACT_FORMAT
    name: str = Field(description="The recipe name.")
    task: Task
    target_column: str | None
    classes: list[Any] | None = Field(default=None, description="Class labels, for classifiers.")
    columns: list[ColumnContract]
    model_input_columns: list[str] = Field(
        description="Columns passed to the pipeline, in order (features, plus the timestamp for "
        "timeseries tasks)."
    )

    def column(self, name: str) -> ColumnContract:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    def by_role(self, role: ColumnRole) -> list[ColumnContract]:
        return [c for c in self.columns if c.role == role]

    @property
    def entity_columns(self) -> list[str]:
        return [c.name for c in self.by_role("entity")]

    @property
    def request_columns(self) -> list[str]:
        """What a client sends per record: entity columns then the model's inputs (never the target)."""
        return [
            *self.entity_columns,
            *(c for c in self.model_input_columns if c not in self.entity_columns),
        ]

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=False)

    @classmethod
    def from_json(cls, text: str) -> FeatureContract:
        return cls.model_validate_json(text)
