"""Divide rows into train / validation / test: random (stratified), temporal or by group."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mmp.core.errors import MmpError

if TYPE_CHECKING:
    import pandas as pd

    from mmp.pipelines.columns import ResolvedColumns
    from mmp.recipe.models import Recipe


@dataclass(frozen=True)
class Splits:
    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame

    def named(self) -> dict[str, pd.DataFrame]:
        return {"train": self.train, "validation": self.validation, "test": self.test}


def split_frame(recipe: Recipe, df: pd.DataFrame, columns: ResolvedColumns) -> Splits:
    """Split by the recipe's strategy; empty validation/test frames when their share is 0."""
    spec = recipe.data.split
    strategy = recipe.split_strategy
    if strategy == "temporal":
        return _temporal(df, str(columns.timestamp), spec.train, spec.validation)
    if strategy == "group":
        group = spec.group_column or columns.entity[0]
        return _grouped(df, group, spec.train, spec.validation, spec.test, recipe.seed)
    stratify = spec.stratify if spec.stratify is not None else recipe.task == "classification"
    target = columns.target if stratify else None
    return _random(df, target, spec.train, spec.validation, spec.test, recipe.seed)


def _random(
    df: pd.DataFrame, stratify: str | None, train: float, validation: float, test: float, seed: int
) -> Splits:
    from sklearn.model_selection import train_test_split

    def cut(frame: pd.DataFrame, share: float, salt: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        if share <= 0:
            return frame, frame.iloc[0:0]
        labels = frame[stratify] if stratify else None
        try:
            kept, taken = train_test_split(frame, test_size=share, random_state=seed + salt, stratify=labels)
        except ValueError as exc:
            raise MmpError(
                f"data.split: cannot split {len(frame)} rows with a {share:.0%} share: {exc}",
                "use more data, larger shares, or stratify: false",
            ) from None
        return kept, taken

    rest, test_df = cut(df, test, 0)
    rest_share = validation / (train + validation) if validation > 0 else 0.0
    train_df, val_df = cut(rest, rest_share, 1)
    return Splits(train_df, val_df, test_df)


def _temporal(df: pd.DataFrame, timestamp: str, train: float, validation: float) -> Splits:
    import pandas as pd

    order = pd.to_datetime(df[timestamp], errors="coerce")
    if order.isna().any():
        bad = df.loc[order.isna(), timestamp].iloc[0]
        raise MmpError(
            f"data.data_interface.timestamp_column: '{timestamp}' has a value that is not a date: {bad!r}",
            "clean the column or drop those rows",
        )
    ordered = df.iloc[order.argsort(kind="stable")]
    n = len(ordered)
    a = round(n * train)
    b = round(n * (train + validation))
    return Splits(ordered.iloc[:a], ordered.iloc[a:b], ordered.iloc[b:])


def _grouped(df: pd.DataFrame, group: str, train: float, validation: float, test: float, seed: int) -> Splits:
    import numpy as np

    groups = df[group].drop_duplicates().to_numpy()
    rng = np.random.default_rng(seed)
    rng.shuffle(groups)
    n = len(groups)
    a = round(n * train)
    b = round(n * (train + validation))
    if a == 0 or (test > 0 and b >= n):
        raise MmpError(
            f"data.split: only {n} distinct values of '{group}' to split into groups",
            "use more groups or a random split",
        )
    member = df[group]
    return Splits(df[member.isin(groups[:a])], df[member.isin(groups[a:b])], df[member.isin(groups[b:])])
