"""The feature contract: what a model expects, written by `mmp train`, read by serving and batch.

It travels inside the model (MLmodel metadata under `mmp.feature_contract`) and as
`feature_contract.json` in the run, so any copy of the model — a run, a registry version, an
exported folder — carries the schema requests and batch inputs are checked against.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from mmp.core.tasks import Task

if TYPE_CHECKING:
    from mmp.core.conformance import ColumnRule

ColumnRole = Literal["entity", "feature", "timestamp", "target"]
ColumnType = Literal["integer", "number", "boolean", "string", "datetime"]
UnknownLevels = Literal["accept", "refuse"]
# 2: booleans and integers with missing values keep their type, `unknown_levels` per column, no
# training value stored as `example`. Format 1 contracts still load (see `FeatureContract.rules`).
CONTRACT_FORMAT = 2
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
    unknown_levels: UnknownLevels = Field(
        default="accept",
        description="What every surface does with a level training never saw: `accept` when the "
        "recipe's encoder ignores unknown levels, `refuse` when it would raise.",
    )
    min: float | None = None
    max: float | None = None
    example: Any = Field(
        default=None,
        exclude=True,  # read from format 1 contracts, never shown (`/model`) or written again
        description="Format 1 only (a training value, no longer written: no training row is published).",
    )

    def rule(self) -> ColumnRule:
        """How this column accepts values, for `mmp.core.conformance`."""
        from mmp.core.conformance import ColumnRule

        kind: str = self.dtype
        levels = self.categories if self.categorical and not self.categories_truncated else None
        if kind == "string" and levels and all(isinstance(v, bool) for v in levels):
            kind = "boolean"  # format 1 recorded booleans with missing values as text
        unit, tz = "ns", None
        match = re.match(r"datetime64\[(?P<unit>s|ms|us|ns)(?:,\s*(?P<tz>[^\]]+))?\]", self.pandas_dtype)
        if match:
            unit, tz = match["unit"], match["tz"]
        refuse = self.unknown_levels == "refuse" and levels is not None and kind != "boolean"
        return ColumnRule(
            name=self.name,
            kind=kind,
            nullable=self.nullable,
            levels=tuple(levels) if refuse and levels is not None else None,
            tz=tz,
            unit=unit,
        )


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

    def rules(self, names: list[str] | None = None) -> list[ColumnRule]:
        """The conformance rule of each named column (default: the request columns), in order."""
        return [self.column(name).rule() for name in (self.request_columns if names is None else names)]

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=False)

    @classmethod
    def from_json(cls, text: str) -> FeatureContract:
        return cls.model_validate_json(text)


def typical_value(col: ColumnContract) -> Any:
    """A plausible value for one column, made up from its type and training range, never copied
    from a training row: OpenAPI examples and the logged model's input example are public."""
    if col.categories:
        return col.categories[0]  # a level of the categorical (the first in sorted order)
    if col.dtype == "boolean":
        return True
    if col.dtype in ("integer", "number"):
        low = col.min if col.min is not None else 0.0
        high = col.max if col.max is not None else low
        middle = (low + high) / 2
        if col.dtype == "integer":
            return round(middle) if col.role != "entity" else 1
        return float(f"{middle:.3g}")
    if col.dtype == "datetime":
        zoned = "," in col.pandas_dtype
        return "2024-01-15T12:00:00+00:00" if zoned else "2024-01-15T12:00:00"
    return "example-1" if col.role == "entity" else "text"


def example_record(contract: FeatureContract) -> dict[str, Any]:
    """One request body made up from the contract: a typical value of every request column."""
    return {name: typical_value(contract.column(name)) for name in contract.request_columns}
