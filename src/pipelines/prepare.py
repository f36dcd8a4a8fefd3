"""Load the data a recipe names and run every check that needs it, before any fitting starts.

Shared by `mmp validate` and `mmp train`, so a recipe that validates is a recipe that trains.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mmp.core.contract import FeatureContract
from mmp.core.data_io import read_table
from mmp.core.errors import MmpError
from mmp.pipelines.columns import ResolvedColumns, resolve_columns
from mmp.pipelines.contract_builder import build_contract, unknown_level_policy
from mmp.pipelines.split import Splits, split_frame

if TYPE_CHECKING:
    import pandas as pd

    from mmp.recipe.config import Config
    from mmp.recipe.models import Recipe

MIN_TRAIN_ROWS = 10


@dataclass(frozen=True)
class Prepared:
    """The data, its column roles and its splits, all checked."""

    frame: pd.DataFrame
    columns: ResolvedColumns
    splits: Splits
    source: str
    contract: FeatureContract  # built from the data as read; `classes` are added after fitting


def data_source(recipe: Recipe, data_path: str | None) -> str:
    source = data_path or recipe.data.source
    if not source:
        raise MmpError("no data: the recipe has no data.source", "set data.source or pass --data-path")
    return source


def prepare(recipe: Recipe, config: Config, data_path: str | None = None) -> Prepared:
    """Read, type, check and split the data; raise one located MmpError for the first problem."""
    source = data_source(recipe, data_path)
    df = read_table(source, config.sql)
    if len(df) == 0:
        raise MmpError(f"the data in {source} has no rows")
    df.columns = [str(c) for c in df.columns]
    columns = resolve_columns(recipe, df)
    df = _parse_timestamp(df, columns.timestamp)
    _check_target(recipe, df, columns)
    contract = build_contract(recipe.name, recipe.task, df, columns, None, unknown_level_policy(recipe))
    df = conform_training_frame(contract, df)
    splits = split_frame(recipe, df, columns)
    _check_splits(recipe, splits, columns)
    return Prepared(frame=df, columns=columns, splits=splits, source=source, contract=contract)


def conform_training_frame(contract: FeatureContract, df: pd.DataFrame) -> pd.DataFrame:
    """The model's input columns converted by the same rules every scoring surface applies.

    So the pipeline is fitted on exactly the dtypes and missing values it will be given later; a
    value no surface would accept (text in a number column, an infinity) stops training here.
    """
    from mmp.core.conformance import conform_frame

    names = [n for n in contract.model_input_columns if n in df.columns]
    conformed = conform_frame(contract.rules(names), df)
    first = conformed.first()
    if first is not None:
        row, column, refusal = first
        count = len(conformed.refused)
        raise MmpError(
            f"data: column '{column}', row {row + 1}: {refusal.message} ({count} such rows)",
            "fix or drop those rows: the same value would be refused when scoring",
        )
    df = df.copy()
    for name in names:
        df[name] = conformed.frame[name]
    return df


def _parse_timestamp(df: pd.DataFrame, timestamp: str | None) -> pd.DataFrame:
    """Text timestamps parsed by the conformance rules (ISO 8601), the way scoring parses them."""
    from pandas.api import types as ptypes

    from mmp.core.conformance import ColumnRule, Refusal, as_model_dtype, convert

    if not timestamp or ptypes.is_datetime64_any_dtype(df[timestamp]):
        return df
    raw = df[timestamp]
    zoned = raw.astype(str).str.contains(r"(?:Z|[+-]\d{2}:?\d{2})$", regex=True).any()
    rule = ColumnRule(timestamp, "datetime", nullable=True, tz="UTC" if zoned else None, unit="us")
    values = []
    for row, value in enumerate(raw.to_numpy(dtype=object)):
        try:
            values.append(convert(rule, value))
        except Refusal as exc:
            raise MmpError(
                f"data.data_interface.timestamp_column: '{timestamp}' has values that are not usable dates, "
                f"e.g. row {row}: {exc.message}",
                "use ISO dates such as 2024-01-31 or 2024-01-31T12:00:00+00:00",
            ) from None
    parsed = as_model_dtype(rule, values)
    parsed.index = df.index
    df = df.copy()
    df[timestamp] = parsed
    return df


def _check_target(recipe: Recipe, df: pd.DataFrame, columns: ResolvedColumns) -> None:
    from pandas.api import types as ptypes

    target = columns.target
    if target is None:
        return
    series = df[target]
    field = "data.data_interface.target_column"
    missing = int(series.isna().sum())
    if missing:
        raise MmpError(
            f"{field}: '{target}' has {missing} missing values",
            "drop or fill those rows before training: mmp never drops rows silently",
        )
    if recipe.task == "classification":
        classes = series.nunique()
        if classes < 2:
            raise MmpError(f"{field}: '{target}' has only {classes} class; a classifier needs 2+")
        if ptypes.is_float_dtype(series) and classes > 0.5 * len(series):
            raise MmpError(
                f"{field}: '{target}' looks continuous ({classes} distinct floats)",
                "use task: regression, or make the labels discrete",
            )
    elif not ptypes.is_numeric_dtype(series) or ptypes.is_bool_dtype(series):
        raise MmpError(
            f"{field}: '{target}' holds {series.dtype} values; {recipe.task} needs numbers",
            "use task: classification for labels",
        )


def _check_splits(recipe: Recipe, splits: Splits, columns: ResolvedColumns) -> None:
    spec = recipe.data.split
    if len(splits.train) < MIN_TRAIN_ROWS:
        raise MmpError(
            f"data.split: the train split has {len(splits.train)} rows; at least {MIN_TRAIN_ROWS} are needed",
            "use more data or a larger train share",
        )
    for name, share in (("validation", spec.validation), ("test", spec.test)):
        if share > 0 and len(splits.named()[name]) == 0:
            raise MmpError(
                f"data.split.{name}: the {name} split is empty",
                f"use more data or set {name}: 0",
            )
    if recipe.task == "classification" and columns.target:
        _check_classes(splits, columns.target)


def _check_classes(splits: Splits, target: str) -> None:
    """Every class must be learnt (in train) and measured (in each non-empty evaluation split)."""
    present = {name: set(part[target].unique()) for name, part in splits.named().items() if len(part)}
    everywhere = set().union(*present.values())
    unseen = everywhere - present["train"]
    if unseen:
        raise MmpError(
            f"data.split: classes {sorted(map(str, unseen))} never appear in the train split",
            "use a stratified random split or more data",
        )
    for name, classes in present.items():
        missing = everywhere - classes
        if missing:
            raise MmpError(
                f"data.split.{name}: classes {sorted(map(str, missing))} are missing from that split",
                "use a stratified random split, more data, or a larger share",
            )
