"""Resolve the recipe's data interface against a real DataFrame: which column plays which role."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mmp.core.errors import MmpError
from mmp.core.suggest import did_you_mean, some_of

if TYPE_CHECKING:
    import pandas as pd

    from mmp.recipe.models import Recipe


@dataclass(frozen=True)
class ResolvedColumns:
    """Every column's role after defaults are applied to the actual data."""

    entity: list[str]
    target: str | None
    timestamp: str | None
    numeric: list[str]
    categorical: list[str]
    uses_timestamp: bool  # True for timeseries: the timestamp becomes calendar features

    @property
    def features(self) -> list[str]:
        return [*self.numeric, *self.categorical]

    @property
    def model_input(self) -> list[str]:
        """What the pipeline takes, in order: features, then the timestamp for timeseries."""
        extra = [self.timestamp] if self.uses_timestamp and self.timestamp else []
        return [*self.features, *extra]


def _require(df: pd.DataFrame, columns: list[str], field: str) -> None:
    for name in columns:
        if name not in df.columns:
            raise MmpError(
                f"{field}: column '{name}' is not in the data{did_you_mean(name, map(str, df.columns))}",
                f"the data has: {some_of(df.columns)}",
            )


def resolve_columns(recipe: Recipe, df: pd.DataFrame) -> ResolvedColumns:
    """Apply the data interface to a frame; raise a located error for every missing or bad column."""
    from pandas.api import types as ptypes

    di = recipe.data.data_interface
    prefix = "data.data_interface"
    _require(df, di.entity_columns, f"{prefix}.entity_columns")
    if di.target_column:
        _require(df, [di.target_column], f"{prefix}.target_column")
    if di.timestamp_column:
        _require(df, [di.timestamp_column], f"{prefix}.timestamp_column")
    if recipe.data.split.group_column:
        _require(df, [recipe.data.split.group_column], "data.split.group_column")

    special = {*di.entity_columns, di.target_column, di.timestamp_column} - {None}
    if di.feature_columns is not None:
        _require(df, di.feature_columns, f"{prefix}.feature_columns")
        features = list(di.feature_columns)
    else:
        features = [str(c) for c in df.columns if c not in special]
    _require(df, di.categorical_columns or [], f"{prefix}.categorical_columns")
    _require(df, di.numeric_columns or [], f"{prefix}.numeric_columns")

    explicit_cat = set(di.categorical_columns or [])
    explicit_num = set(di.numeric_columns or [])
    numeric: list[str] = []
    categorical: list[str] = []
    for name in features:
        series = df[name]
        if name in explicit_cat:
            categorical.append(name)
        elif name in explicit_num:
            if not (ptypes.is_numeric_dtype(series) and not ptypes.is_bool_dtype(series)):
                raise MmpError(
                    f"{prefix}.numeric_columns: '{name}' holds {series.dtype} values, not numbers",
                    "list it under categorical_columns or fix the data",
                )
            numeric.append(name)
        elif ptypes.is_datetime64_any_dtype(series):
            raise MmpError(
                f"{prefix}: column '{name}' holds dates and cannot be a raw feature",
                "make it the timestamp_column or leave it out of feature_columns",
            )
        elif ptypes.is_numeric_dtype(series) and not ptypes.is_bool_dtype(series):
            numeric.append(name)
        else:
            categorical.append(name)
    if not features and recipe.task != "timeseries":
        raise MmpError(f"{prefix}: no feature columns are left", "check feature_columns and the data")
    return ResolvedColumns(
        entity=list(di.entity_columns),
        target=di.target_column,
        timestamp=di.timestamp_column,
        numeric=numeric,
        categorical=categorical,
        uses_timestamp=recipe.task == "timeseries",
    )
