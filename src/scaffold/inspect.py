"""Look at a data set and propose its data interface: entities, timestamp, numeric vs categorical, task.

`mmp get-recipe --from-data` starts from this proposal. Every rule is a plain heuristic with a
reason the user sees in the generated recipe's header, so a wrong guess is easy to spot and fix:

- identifiers (entity candidates): an id-like name (`id`, `*_id`, `uuid`, `key`, `sku`...) on a
  whole-number or text column, a text column whose every value is different, or an integer row
  number (consecutive values);
- timestamp: a datetime column, or text that is ISO-8601 dates for (nearly) every row;
- categorical: booleans, text with few distinct values, numbers with exactly two values (a flag
  or a code such as sex coded 1/2); numeric: every other number;
- left out: columns that are empty, constant, or free text with too many distinct values;
- task: no target -> clustering; a text/boolean target, or a numeric one with two values (0/1) ->
  classification; another numeric target -> timeseries when there is a date column along which
  the entities repeat (never for one row per entity), classification when it has at most 10
  whole-number values, regression otherwise. A date kept for a tabular task only orders rows for
  a temporal split; with the proposed random split the model does not use it (the header says so).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from mmp.core.errors import MmpError
from mmp.core.suggest import did_you_mean, some_of

if TYPE_CHECKING:
    import pandas as pd

    from mmp.recipe.config import SqlSettings

_ID_NAME = re.compile(r"(^|_)(id|ids|uuid|guid|key|sku)$", re.I)
_TIME_NAME = re.compile(r"(date|time|day|week|month|year|_at$|_on$|timestamp)", re.I)
_ISO_DATE = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$")
MAX_CATEGORIES = 50  # more distinct text values than this (and than 5% of rows) is free text
CLASSIFICATION_MAX_LEVELS = 10
SAMPLE = 1000  # values checked per column for date detection


@dataclass(frozen=True)
class ColumnProfile:
    """What one column looks like and the role proposed for it."""

    name: str
    dtype: str
    distinct: int
    missing: int
    role: str  # target, entity, timestamp, numeric, categorical, dropped
    reason: str


@dataclass
class DataProfile:
    """The proposed data interface for a data set, with the reason for each choice."""

    source: str
    rows: int
    target: str | None
    task: str
    task_reason: str
    columns: list[ColumnProfile] = field(default_factory=list)
    entities_repeat: bool = False  # one entity on several rows: a random split would leak

    def names(self, role: str) -> list[str]:
        return [c.name for c in self.columns if c.role == role]

    @property
    def entity_columns(self) -> list[str]:
        return self.names("entity")

    @property
    def timestamp_column(self) -> str | None:
        found = self.names("timestamp")
        return found[0] if found else None

    @property
    def numeric_columns(self) -> list[str]:
        return self.names("numeric")

    @property
    def categorical_columns(self) -> list[str]:
        return self.names("categorical")

    @property
    def dropped(self) -> dict[str, str]:
        return {c.name: c.reason for c in self.columns if c.role == "dropped"}

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "rows": self.rows,
            "target": self.target,
            "task": self.task,
            "task_reason": self.task_reason,
            "entity_columns": self.entity_columns,
            "timestamp_column": self.timestamp_column,
            "numeric_columns": self.numeric_columns,
            "categorical_columns": self.categorical_columns,
            "dropped": self.dropped,
            "entities_repeat": self.entities_repeat,
            "columns": [asdict(c) for c in self.columns],
        }


def read_data(source: str, sql: SqlSettings | None = None) -> pd.DataFrame:
    """The data set, through the same reader training uses (CSV, Parquet, SQL)."""
    from mmp.core.data_io import read_table

    frame = read_table(source, sql)
    if frame.empty:
        raise MmpError(f"{source} has no rows", "point --from-data at the training data")
    return frame


def inspect_frame(
    frame: pd.DataFrame,
    source: str,
    target: str | None,
    task: str | None = None,
    entity_columns: list[str] | None = None,
    timestamp_column: str | None = None,
) -> DataProfile:
    """Profile every column and propose roles; explicit choices (task, entities, timestamp) win."""
    columns = [str(c) for c in frame.columns]
    for chosen in [target, timestamp_column, *(entity_columns or [])]:
        if chosen is not None and chosen not in columns:
            raise MmpError(
                f"{source} has no column '{chosen}'{did_you_mean(chosen, columns)}",
                f"columns: {some_of(columns)}",
            )
    profiles = {name: _profile(frame[name], name, len(frame)) for name in columns}
    if target is not None:
        profiles[target] = _with_role(profiles[target], "target", "the column to predict")
    _assign_timestamp(profiles, timestamp_column, target)
    _assign_entities(profiles, entity_columns, target)
    chosen_task, reason = _task(frame, target, task, profiles)
    if chosen_task == "timeseries" and not any(p.role == "timestamp" for p in profiles.values()):
        raise MmpError(
            f"a timeseries recipe needs a date column and none was found in {source}",
            "name it with --timestamp COLUMN, or choose --task regression",
        )
    profile = DataProfile(
        source=source,
        rows=len(frame),
        target=target,
        task=chosen_task,
        task_reason=reason,
        columns=[profiles[name] for name in columns],
    )
    entities = profile.entity_columns
    profile.entities_repeat = bool(entities) and bool(frame.duplicated(subset=entities).any())
    return profile


def _profile(series: pd.Series, name: str, rows: int) -> ColumnProfile:
    import pandas as pd
    from pandas.api import types

    values = series.dropna()
    distinct = int(values.nunique())
    missing = int(series.isna().sum())
    dtype = str(series.dtype)

    def role(kind: str, reason: str) -> ColumnProfile:
        return ColumnProfile(name, dtype, distinct, missing, kind, reason)

    if values.empty:
        return role("dropped", "every value is missing")
    if distinct == 1:
        return role("dropped", f"one value only ({values.iloc[0]!r}): it cannot explain anything")
    if types.is_bool_dtype(series):
        return role("categorical", "true/false")
    if types.is_datetime64_any_dtype(series):
        return role("timestamp?", "a datetime column")
    if types.is_numeric_dtype(series):  # a row number is an integer column, never floats
        whole = bool((values == values.round()).all())
        unique_per_row = distinct == rows
        if _ID_NAME.search(name) and whole:
            return role("entity?", "an id-like name")
        if types.is_integer_dtype(series) and unique_per_row and _is_row_number(values):
            return role("entity?", "a row number (consecutive whole numbers)")
        if distinct == 2 and whole:
            return role("categorical", "two whole-number values: a flag or a code")
        return role("numeric", "numbers")
    text = values.astype(str)
    sample = text.head(SAMPLE)
    if bool(sample.str.match(_ISO_DATE).mean() >= 0.95):
        parsed = pd.to_datetime(sample, errors="coerce", format="ISO8601")
        if parsed.notna().mean() >= 0.95:
            return role("timestamp?", "ISO-8601 dates")
    if _ID_NAME.search(name):
        return role("entity?", "an id-like name")
    if distinct == len(values) == rows:
        return role("entity?", "a different value on every row")
    if distinct <= max(MAX_CATEGORIES, int(0.05 * rows)):
        return role("categorical", f"text with {distinct} distinct values")
    return role("dropped", f"free text with {distinct} distinct values: too many for a category")


def _is_row_number(values: pd.Series) -> bool:
    ordered = values.sort_values().to_numpy()
    return bool(len(ordered) > 1 and (ordered[1:] - ordered[:-1] == 1).all())


def _with_role(profile: ColumnProfile, role: str, reason: str) -> ColumnProfile:
    return ColumnProfile(profile.name, profile.dtype, profile.distinct, profile.missing, role, reason)


def _assign_timestamp(profiles: dict[str, ColumnProfile], chosen: str | None, target: str | None) -> None:
    candidates = [p.name for p in profiles.values() if p.role == "timestamp?"]
    if chosen is None and candidates:
        named = [c for c in candidates if _TIME_NAME.search(c)]
        chosen = (named or candidates)[0]
    for name in candidates:
        if name != chosen:
            profiles[name] = _with_role(
                profiles[name], "dropped", "another date column: derive features from it in your data"
            )
    if chosen is not None and chosen != target:
        profiles[chosen] = _with_role(profiles[chosen], "timestamp", profiles[chosen].reason or "chosen")


def _assign_entities(
    profiles: dict[str, ColumnProfile], chosen: list[str] | None, target: str | None
) -> None:
    for name, profile in profiles.items():
        if name == target or profile.role == "timestamp":
            continue
        if chosen is not None:
            if name in chosen:
                profiles[name] = _with_role(profile, "entity", "chosen with --entity")
            elif profile.role == "entity?":
                profiles[name] = _with_role(profile, "dropped", f"{profile.reason}, not chosen as an entity")
        elif profile.role == "entity?":
            profiles[name] = _with_role(profile, "entity", profile.reason)


def _task(
    frame: pd.DataFrame, target: str | None, task: str | None, profiles: dict[str, ColumnProfile]
) -> tuple[str, str]:
    from pandas.api import types

    if target is None:
        if task not in (None, "clustering"):
            raise MmpError(f"a {task} recipe needs a target column", "pass --target COLUMN")
        return "clustering", "no target column"
    series = frame[target].dropna()
    if series.empty:
        raise MmpError(f"the target column '{target}' has no values", "choose another --target")
    numeric = types.is_numeric_dtype(series) and not types.is_bool_dtype(series)
    if task is not None:
        if task == "clustering":
            raise MmpError("clustering recipes have no target", "drop --target, or choose another --task")
        if task in ("regression", "timeseries") and not numeric:
            raise MmpError(
                f"the target '{target}' holds {series.dtype} values: a {task} needs numbers",
                "choose --task classification, or another --target",
            )
        return task, "chosen with --task"
    if not numeric:
        return "classification", f"the target holds {'true/false' if types.is_bool_dtype(series) else 'text'}"
    levels = int(series.nunique())
    whole = bool((series == series.round()).all())
    if levels == 2:  # a 0/1 flag (or any two values) is a class, date column or not
        return "classification", "the target has two values"
    timestamp = next((p.name for p in profiles.values() if p.role == "timestamp"), None)
    series_reason = _time_series(frame, profiles, timestamp) if timestamp is not None else None
    if series_reason is not None:
        return "timeseries", series_reason
    if levels <= CLASSIFICATION_MAX_LEVELS and whole:
        return "classification", f"the target has {levels} whole-number values"
    return "regression", "a numeric target"


def _time_series(frame: pd.DataFrame, profiles: dict[str, ColumnProfile], timestamp: str) -> str | None:
    """Why the data is a time series (several dates per entity, or one series without entities),
    or None: one row per entity with a date is tabular data, whatever the date column says."""
    entities = [p.name for p in profiles.values() if p.role == "entity"]
    if not entities:
        if frame[timestamp].nunique(dropna=True) > 1:
            return "a numeric target and a date column (one series)"
        return None
    if frame.duplicated(subset=entities).any():
        return "a numeric target, and dates along which the entities repeat"
    return None
