"""Build the feature contract from the training data and the resolved column roles."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from mmp.core.contract import (
    CATEGORY_CAP,
    ColumnContract,
    ColumnRole,
    ColumnType,
    FeatureContract,
    UnknownLevels,
)
from mmp.pipelines.columns import ResolvedColumns
from mmp.recipe.components import accepted_params, import_class

if TYPE_CHECKING:
    import pandas as pd

    from mmp.recipe.models import Recipe


def logical_type(series: pd.Series) -> ColumnType:
    """The contract type of a training column, faithful to what it holds.

    A boolean column with missing values is still boolean (pandas reads it from CSV as objects, and
    from Parquet as `boolean` or objects); an integer column that can be missing is an integer.
    """
    from pandas.api import types as ptypes

    if ptypes.is_bool_dtype(series):
        return "boolean"
    if ptypes.is_integer_dtype(series):
        return "integer"
    if ptypes.is_numeric_dtype(series):
        return "number"
    if ptypes.is_datetime64_any_dtype(series):
        return "datetime"
    if series.dtype == object and ptypes.infer_dtype(series, skipna=True) == "boolean":
        return "boolean"
    return "string"


def unknown_level_policy(recipe: Recipe) -> UnknownLevels:
    """`refuse` when a categorical step raises on unseen levels (`handle_unknown: error`), else `accept`.

    Decided once from the recipe, so serving, batch, Spark and the logged model agree with the
    encoder instead of each guessing.
    """
    import inspect

    for step in recipe.preprocessing.categorical:
        cls = import_class(step.class_path)
        params = step.resolved_params()
        if "handle_unknown" not in accepted_params(cls)[0]:
            continue
        value = params.get("handle_unknown")
        if value is None:
            default = inspect.signature(cls).parameters.get("handle_unknown")
            value = default.default if default is not None else None
        if value == "error":
            return "refuse"
    return "accept"


def _plain(value: Any) -> Any:
    """A JSON-friendly Python scalar from a numpy/pandas one."""
    if hasattr(value, "item"):
        value = value.item()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def column_contract(
    name: str,
    role: ColumnRole,
    series: pd.Series,
    categorical: bool,
    unknown_levels: UnknownLevels = "accept",
) -> ColumnContract:
    from mmp.core.conformance import MISSING_TEXT

    dtype = logical_type(series)
    missing = series.isna()
    if dtype == "string":  # the text spellings of missing are missing (conformance.MISSING_TEXT)
        missing = missing | series.isin(list(MISSING_TEXT))
    non_null = series[~missing]
    spec: dict[str, Any] = {
        "name": name,
        "role": role,
        "dtype": dtype,
        "pandas_dtype": str(series.dtype),
        "nullable": bool(missing.any()),
        "categorical": categorical,
    }
    if categorical:
        spec["unknown_levels"] = unknown_levels
    if categorical:
        levels = sorted({_plain(v) for v in non_null.unique()}, key=lambda v: (str(type(v)), v))
        spec["categories"] = levels[:CATEGORY_CAP]
        spec["categories_truncated"] = len(levels) > CATEGORY_CAP
    elif dtype in ("integer", "number") and len(non_null):
        spec["min"] = float(non_null.min())
        spec["max"] = float(non_null.max())
    return ColumnContract(**spec)


def build_contract(
    name: str,
    task: str,
    df: pd.DataFrame,
    columns: ResolvedColumns,
    classes: list[Any] | None,
    unknown_levels: UnknownLevels = "accept",
) -> FeatureContract:
    """Every column with a role, typed from the training data as read (before conformance)."""
    specs: list[ColumnContract] = []
    for col in columns.entity:
        specs.append(column_contract(col, "entity", df[col], categorical=False))
    for col in columns.features:
        categorical = col in columns.categorical
        specs.append(column_contract(col, "feature", df[col], categorical, unknown_levels))
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
