"""Build the feature contract from the training data and the resolved column roles."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from mmp.core.contract import CATEGORY_CAP, ColumnContract, ColumnRole, ColumnType, FeatureContract
from mmp.pipelines.columns import ResolvedColumns

if TYPE_CHECKING:
    import pandas as pd


def logical_type(series: pd.Series) -> ColumnType:
    from pandas.api import types as ptypes

    if ptypes.is_bool_dtype(series):
        return "boolean"
    if ptypes.is_integer_dtype(series):
        return "integer"
    if ptypes.is_numeric_dtype(series):
        return "number"
    if ptypes.is_datetime64_any_dtype(series):
        return "datetime"
    return "string"


def _plain(value: Any) -> Any:
    """A JSON-friendly Python scalar from a numpy/pandas one."""
    if hasattr(value, "item"):
        value = value.item()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def column_contract(name: str, role: ColumnRole, series: pd.Series, categorical: bool) -> ColumnContract:
    dtype = logical_type(series)
    non_null = series.dropna()
    spec: dict[str, Any] = {
        "name": name,
        "role": role,
        "dtype": dtype,
        "pandas_dtype": str(series.dtype),
        "nullable": bool(series.isna().any()),
        "categorical": categorical,
        "example": _plain(non_null.iloc[0]) if len(non_null) else None,
    }
    if categorical:
        levels = sorted({_plain(v) for v in non_null.unique()}, key=lambda v: (str(type(v)), v))
        spec["categories"] = levels[:CATEGORY_CAP]
        spec["categories_truncated"] = len(levels) > CATEGORY_CAP
    elif dtype in ("integer", "number") and len(non_null):
        spec["min"] = float(non_null.min())
        spec["max"] = float(non_null.max())
    return ColumnContract(**spec)


def build_contract(
    name: str, task: str, df: pd.DataFrame, columns: ResolvedColumns, classes: list[Any] | None
) -> FeatureContract:
    """Every column with a role, typed from the training data."""
    specs: list[ColumnContract] = []
    for col in columns.entity:
        specs.append(column_contract(col, "entity", df[col], categorical=False))
    for col in columns.features:
        specs.append(column_contract(col, "feature", df[col], categorical=col in columns.categorical))
    if columns.timestamp:
        specs.append(column_contract(columns.timestamp, "timestamp", df[columns.timestamp], False))
    if columns.target:
        specs.append(column_contract(columns.target, "target", df[columns.target], task == "classification"))
    return FeatureContract(
        name=name,
        task=task,  # type: ignore[arg-type]
        target_column=columns.target,
        classes=[_plain(c) for c in classes] if classes is not None else None,
        columns=specs,
        model_input_columns=columns.model_input,
    )
