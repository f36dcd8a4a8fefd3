"""What each contract column accepts, and how an accepted value becomes the model's input.

This is the one definition of input conformance. `/predict`, `/predict/batch`, batch-inference
(CSV, Parquet, JSON Lines, SQL), Spark, the training reader and the logged MLflow model all convert
values through it, so a record gets the same answer, or the same refusal, on every surface:

- **Missing values**: JSON `null`, `NaN`, `NaT`, `pd.NA` and the text spellings in `MISSING_TEXT`
  are missing. A missing value becomes the model's missing value (`NaN` for numbers, booleans and
  text, `NaT` for dates) whatever the surface or dtype; a column that never had one in training
  refuses it.
- **Booleans**: `true`/`false`, the numbers 1 and 0 (also 1.0/0.0, as numbers or as text), and the
  texts in `TRUE_TEXT` / `FALSE_TEXT` (any case, surrounding spaces ignored). Nothing else: `2` or
  `"maybe"` is refused.
- **Integers**: whole numbers in the int64 range; `3.0` (a number or a text) is the integer 3,
  `3.5` is refused. **Numbers**: finite; infinities and overflows are out of range.
- **Text** is parsed for number, boolean and date columns (`"3.5"` is a number); a number or a
  boolean is never text (a text column refuses `5`). Text with a lone surrogate is refused.
- **Dates**: ISO 8601 dates or date-times (`2024-01-31`, `2024-01-31T12:00:00`, `...+02:00`, `...Z`);
  a date-time without a zone is UTC; a column trained without zones gets UTC wall time. Dates must
  lie within the range the training dtype can hold (`DATE_RANGES`).
- **Unseen levels**: a categorical column whose encoder ignores unknown levels accepts any value of
  its type; otherwise every surface refuses a level training never saw.

The module imports only the standard library, numpy, pandas and scikit-learn, and no mmp module:
it is pickled by value into each logged model (the `ConformInput` first step of the pipeline), so
the model applies these rules where mmp is not installed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

KINDS = ("integer", "number", "boolean", "string", "datetime")
MISSING_TEXT = frozenset(
    {
        "",
        "#N/A",
        "#N/A N/A",
        "#NA",
        "-1.#IND",
        "-1.#QNAN",
        "-NaN",
        "-nan",
        "1.#IND",
        "1.#QNAN",
        "<NA>",
        "N/A",
        "NA",
        "NULL",
        "NaN",
        "None",
        "n/a",
        "nan",
        "null",
    }
)  # pandas' default missing-value spellings: the training reader uses the same ones.
TRUE_TEXT = frozenset({"true", "t", "yes", "y", "1"})
FALSE_TEXT = frozenset({"false", "f", "no", "n", "0"})
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# Dates a column of each pandas resolution can hold, as naive UTC bounds (one day inside the
# dtype's limits, so converting to the training time zone cannot overflow).
DATE_RANGES = {
    "ns": (datetime(1677, 9, 22), datetime(2262, 4, 10)),
    "us": (datetime(1, 1, 2), datetime(9999, 12, 30)),
    "ms": (datetime(1, 1, 2), datetime(9999, 12, 30)),
    "s": (datetime(1, 1, 2), datetime(9999, 12, 30)),
}
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_INTEGER = re.compile(r"[+-]?\d+")
_INFINITY = re.compile(r"[+-]?(?:inf|infinity)", re.I)
_DATE = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?"
)
_SURROGATE = re.compile("[\ud800-\udfff]")
_EXPECTED = {
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "string": "text",
    "datetime": "an ISO 8601 date or date-time",
}
# Why a value is refused: the same code on every surface (the `type` of a 422 field, the start
# of a batch reject's reason).
REASONS = {
    "missing_value": "a missing value in a column that had none in training",
    "wrong_type": "a value that is not of the column's type (or a spelling the rules do not accept)",
    "out_of_range": "a value of the right type that the model's dtype cannot hold",
    "unknown_level": "a level training never saw, in a column whose encoder refuses unseen levels",
}


class Refusal(ValueError):
    """A value the column does not accept: `code` is one of `REASONS`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ColumnRule:
    """How one column accepts values: built from the feature contract (see `contract.rules`)."""

    name: str
    kind: str
    nullable: bool
    levels: tuple[Any, ...] | None = None  # set only when unseen levels are refused
    tz: str | None = None  # datetime columns trained with a time zone
    unit: str = "ns"  # datetime resolution of the training dtype
    _levels: frozenset[Any] = field(default=frozenset(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown column kind {self.kind!r}")
        object.__setattr__(self, "_levels", frozenset(self.levels or ()))

    @property
    def expected(self) -> str:
        return _EXPECTED[self.kind]

    @property
    def model_dtype(self) -> str:
        """The dtype the pipeline sees for this column (training and scoring alike)."""
        if self.kind == "number" or (self.kind == "integer" and self.nullable):
            return "float64"
        if self.kind == "integer":
            return "int64"
        if self.kind == "datetime":
            return f"datetime64[{self.unit}, {self.tz}]" if self.tz else f"datetime64[{self.unit}]"
        return "object"


# --- one value -----------------------------------------------------------------------------------


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def wrong_type(rule: ColumnRule, value: Any) -> Refusal:
    return Refusal("wrong_type", f"expected {rule.expected}, got {_shown(value)}")


def not_finite(value: Any) -> Refusal:
    return Refusal("out_of_range", f"expected a finite number, got {_shown(value)}")


def missing_refusal() -> Refusal:
    return Refusal("missing_value", "missing value, and training had none in this column")


def unknown_level(value: Any) -> Refusal:
    return Refusal(
        "unknown_level",
        f"unknown level {_shown(value)}: training never saw it and the model's encoder refuses unseen levels",
    )


def is_missing(value: Any) -> bool:
    """JSON null, NaN, NaT and pd.NA (not the text spellings: those are read by `convert`)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float | np.floating):
        return bool(math.isnan(value))
    if isinstance(value, np.datetime64):
        return bool(np.isnat(value))
    return False


def convert(rule: ColumnRule, value: Any) -> Any:
    """One value as the model takes it, or None when it is missing; raise `Refusal` otherwise.

    This is the definition every surface follows; the vectorised `conform_column` is only a
    faster way to apply it to a whole column (and is tested to agree with it).
    """
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, Decimal):  # SQL NUMERIC columns
        value = int(value) if value.is_finite() and value == value.to_integral_value() else float(value)
    if is_missing(value):
        return _missing(rule)
    if isinstance(value, str):
        if rule.kind == "string":
            if value in MISSING_TEXT:
                return _missing(rule)
            if _SURROGATE.search(value):
                raise Refusal(
                    "wrong_type", "expected text, got text that is not valid Unicode (a lone surrogate)"
                )
            return _level(rule, value)
        text = value.strip()
        if text in MISSING_TEXT:
            return _missing(rule)
        return _level(rule, _from_text(rule, text, value))
    return _level(rule, _from_value(rule, value))


def _missing(rule: ColumnRule) -> None:
    if not rule.nullable:
        raise missing_refusal()
    return None


def _level(rule: ColumnRule, value: Any) -> Any:
    if rule.levels is not None and value not in rule._levels:
        raise unknown_level(value)
    return value


def _from_text(rule: ColumnRule, text: str, raw: str) -> Any:
    kind = rule.kind
    if kind in ("integer", "number"):
        if _INFINITY.fullmatch(text):
            raise not_finite(raw)
        if kind == "integer" and _INTEGER.fullmatch(text):
            return _integer(rule, int(text), raw)
        if not _NUMBER.fullmatch(text):
            raise wrong_type(rule, raw)
        return _from_value(rule, float(text), raw)
    if kind == "boolean":
        lowered = text.lower()
        if lowered in TRUE_TEXT:
            return True
        if lowered in FALSE_TEXT:
            return False
        if _NUMBER.fullmatch(text) and float(text) in (0.0, 1.0):  # "1.0" as 1.0: the number rule
            return float(text) == 1.0
        raise wrong_type(rule, raw)
    if kind == "datetime":
        return _date_time(rule, _parse_date(rule, text, raw), raw)
    raise AssertionError(kind)


def _from_value(rule: ColumnRule, value: Any, raw: Any = None) -> Any:
    shown = value if raw is None else raw
    kind = rule.kind
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise wrong_type(rule, shown)
        try:
            number = float(value)
        except OverflowError:
            raise Refusal("out_of_range", f"{_shown(shown)} is beyond the range of a 64-bit float") from None
        if not math.isfinite(number):
            raise not_finite(shown)
        return number
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise wrong_type(rule, shown)
        if isinstance(value, float):
            if not math.isfinite(value):
                raise not_finite(shown)
            if not value.is_integer():
                raise wrong_type(rule, shown)
            value = int(value)
        return _integer(rule, value, shown)
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, int | float) and value in (0, 1):
            return bool(value)
        raise wrong_type(rule, shown)
    if kind == "datetime":
        if isinstance(value, datetime):
            return _date_time(rule, value, shown)
        if isinstance(value, date):
            return _date_time(rule, datetime(value.year, value.month, value.day), shown)
        raise wrong_type(rule, shown)
    raise wrong_type(rule, shown)  # text columns take text only


def _integer(rule: ColumnRule, value: int, shown: Any) -> int:
    if not INT64_MIN <= value <= INT64_MAX:
        raise Refusal("out_of_range", f"{_shown(shown)} is outside the 64-bit integer range")
    return value


def _parse_date(rule: ColumnRule, text: str, raw: str) -> datetime:
    if not _DATE.fullmatch(text):
        raise wrong_type(rule, raw)
    cleaned = text.replace(",", ".")
    if "." in cleaned:  # Python keeps microseconds: drop digits beyond them, as pandas rounds down
        head, _, rest = cleaned.partition(".")
        digits = re.match(r"\d+", rest)
        assert digits is not None
        cleaned = f"{head}.{digits.group()[:6].ljust(6, '0')}{rest[digits.end() :]}"
    try:
        return datetime.fromisoformat(cleaned.replace("Z", "+00:00"))
    except ValueError:
        raise wrong_type(rule, raw) from None


def _date_time(rule: ColumnRule, value: datetime, shown: Any) -> datetime:
    """Naive UTC for columns trained without a zone, aware UTC for zoned ones; within range."""
    low, high = DATE_RANGES.get(rule.unit, DATE_RANGES["ns"])
    try:
        naive = value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    except (OverflowError, ValueError):
        naive = None
    if naive is None or not low <= naive <= high:
        raise Refusal(
            "out_of_range",
            f"{_shown(shown)} is outside the supported dates {low.date()} to {high.date()}",
        )
    if isinstance(naive, pd.Timestamp):
        naive = naive.to_pydatetime(warn=False)
    return naive.replace(tzinfo=UTC) if rule.tz else naive


# --- whole columns ---------------------------------------------------------------------------------


@dataclass
class Conformed:
    """A frame in the model's dtypes, and the refused values: row position -> [(column, refusal)]."""

    frame: pd.DataFrame
    refused: dict[int, list[tuple[str, Refusal]]]

    def first(self) -> tuple[int, str, Refusal] | None:
        if not self.refused:
            return None
        row = min(self.refused)
        column, refusal = self.refused[row][0]
        return row, column, refusal


def conform_frame(rules: list[ColumnRule] | tuple[ColumnRule, ...], frame: pd.DataFrame) -> Conformed:
    """Every rule's column of `frame` converted; refused values become missing and are listed."""
    columns: dict[str, Any] = {}
    refused: dict[int, list[tuple[str, Refusal]]] = {}
    for rule in rules:
        if rule.name not in frame.columns:
            raise ValueError(
                f"the input has no column {rule.name!r}; the model needs {[r.name for r in rules]}"
            )
        series, bad = conform_column(rule, frame[rule.name])
        columns[rule.name] = series
        for row, refusal in bad.items():
            refused.setdefault(row, []).append((rule.name, refusal))
    out = pd.DataFrame(columns, index=frame.index) if columns else pd.DataFrame(index=frame.index)
    return Conformed(out, refused)


def conform_column(rule: ColumnRule, series: pd.Series) -> tuple[pd.Series, dict[int, Refusal]]:
    """`convert` applied to each value (vectorised where the input dtype allows it)."""
    if _is_numpy_number_column(rule, series.dtype):
        return _numpy_numbers(rule, series)
    return _conform_column(rule, series)


def _is_numpy_number_column(rule: ColumnRule, dtype: Any) -> bool:
    """Numbers already in a numpy int/float dtype (what pyfunc and file readers usually pass)."""
    if rule.levels is not None or isinstance(dtype, pd.api.extensions.ExtensionDtype):
        return False
    kind = getattr(dtype, "kind", "")
    return (rule.kind == "number" and kind in "if") or (rule.kind == "integer" and kind == "i")


def _numpy_numbers(rule: ColumnRule, series: pd.Series) -> tuple[pd.Series, dict[int, Refusal]]:
    """`_conform_column` for `_is_numpy_number_column` columns, in numpy alone.

    The general path goes through object dtype and `pd.to_numeric`, a few pandas calls per column
    whatever the row count: ~17 ms for a 30-column row, most of what a one-row `pyfunc.predict`
    (or `mlflow models serve`) spent. Same values, same refusals (tested against the general path).
    """
    array = series.to_numpy()
    refused: dict[int, Refusal] = {}
    if rule.kind == "integer":  # int64 input: no missing, no infinity, no fraction
        out = array.astype("float64" if rule.nullable else "int64")
        return pd.Series(out, index=series.index, name=series.name), refused
    numbers = array.astype("float64")  # a copy: the caller's frame is never written
    infinite = np.isinf(numbers)
    for row in np.flatnonzero(infinite):
        refused[int(row)] = not_finite(float(numbers[row]))
    missing = infinite | np.isnan(numbers)
    numbers[missing] = np.nan  # one NaN for every missing value, whatever sign or payload came in
    if not rule.nullable:
        for row in np.flatnonzero(missing):
            refused.setdefault(int(row), missing_refusal())
    return pd.Series(numbers, index=series.index, name=series.name), refused


def _conform_column(rule: ColumnRule, series: pd.Series) -> tuple[pd.Series, dict[int, Refusal]]:
    values = series.reset_index(drop=True)
    dtype = values.dtype
    refused: dict[int, Refusal] = {}
    kind = rule.kind
    if kind in ("integer", "number") and _is_plain_numeric(dtype):
        out = _numbers(rule, values, refused)
    elif kind == "boolean" and pd.api.types.is_bool_dtype(dtype) and not isinstance(dtype, pd.BooleanDtype):
        out = pd.Series(values.to_numpy(dtype=object), dtype=object)
    elif kind == "datetime" and pd.api.types.is_datetime64_any_dtype(dtype):
        out = _dates(rule, values, refused)
    elif kind == "string" and _is_text(values):
        out = _texts(rule, values, refused)
    elif kind in ("integer", "number") and _is_text(values):
        out = _numbers_from_text(rule, values, refused)
    else:
        out = _by_value(rule, values, refused)
    out = _finish(rule, out, refused)
    out.index = series.index
    return out, refused


def _is_plain_numeric(dtype: Any) -> bool:
    """Signed integers and floats (numpy or pandas nullable): unsigned ones may exceed int64."""
    if isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(dtype):
        return False
    return getattr(dtype, "kind", "") in ("i", "f")


def _is_text(values: pd.Series) -> bool:
    if pd.api.types.is_string_dtype(values.dtype) and not isinstance(values.dtype, pd.CategoricalDtype):
        if values.dtype == object:
            return pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty")
        return True
    return False


def _numbers(rule: ColumnRule, values: pd.Series, refused: dict[int, Refusal]) -> pd.Series:
    """Numeric dtypes into integer/number columns: range and wholeness checks, no per-value Python."""
    if pd.api.types.is_integer_dtype(values.dtype) and not isinstance(
        values.dtype, pd.api.extensions.ExtensionDtype
    ):
        if rule.kind == "integer":
            return values.astype("int64")
        return values.astype("float64")
    if pd.api.types.is_integer_dtype(values.dtype):  # nullable Int64 & co.
        if rule.kind == "integer" and not values.isna().any():
            return values.astype("int64")
        return values.astype("float64")  # pd.NA becomes NaN
    numbers = values.astype("float64")
    array = numbers.to_numpy()
    bad = np.isinf(array)
    if rule.kind == "integer":
        with np.errstate(invalid="ignore"):
            fractional = np.isfinite(array) & (array != np.floor(array))
            huge = np.isfinite(array) & ((array < float(INT64_MIN)) | (array >= float(INT64_MAX)))
        for row in np.flatnonzero(fractional | huge):
            try:
                convert(rule, float(array[row]))
            except Refusal as exc:
                refused[int(row)] = exc
        bad = bad | fractional | huge
    for row in np.flatnonzero(np.isinf(array)):
        refused[int(row)] = not_finite(float(array[row]))
    return numbers.mask(bad)


def _numbers_from_text(rule: ColumnRule, values: pd.Series, refused: dict[int, Refusal]) -> pd.Series:
    """Text into integer/number columns: the common shapes vectorised, the rest value by value."""
    text = values.astype(object)
    present = text.notna().to_numpy()
    stripped = text.str.strip() if present.any() else text
    ok = stripped.str.fullmatch(_NUMBER.pattern).fillna(False).to_numpy(dtype=bool, copy=True)
    if rule.kind == "integer":
        ok &= stripped.str.fullmatch(_INTEGER.pattern).fillna(False).to_numpy(dtype=bool)
    ok &= ~stripped.isin(list(MISSING_TEXT)).to_numpy()
    # A number column goes straight to float64 (`convert` gives it a float or None, and None
    # stored in a float array is NaN): an object column of Python floats would cost
    # `as_model_dtype` a per-value round trip (~1.5 ms a column).
    result = np.full(len(values), np.nan, dtype=np.float64 if rule.kind == "number" else object)
    if ok.any():
        if rule.kind == "integer":
            parsed = [int(v) for v in stripped.to_numpy()[ok]]
            result[ok] = parsed
            big = [
                i for i, v in zip(np.flatnonzero(ok), parsed, strict=True) if not INT64_MIN <= v <= INT64_MAX
            ]
            ok[big] = False
        else:
            floats = stripped.to_numpy()[ok].astype(np.float64)
            result[ok] = floats
            ok[np.flatnonzero(ok)[~np.isfinite(floats)]] = False
    rest = np.flatnonzero(present & ~ok)
    for row in rest:
        try:
            result[row] = convert(rule, text.iat[row])
        except Refusal as exc:
            refused[int(row)] = exc
            result[row] = None
    return pd.Series(result, dtype=result.dtype)


def _texts(rule: ColumnRule, values: pd.Series, refused: dict[int, Refusal]) -> pd.Series:
    text = values.astype(object)
    missing = text.isna() | text.isin(list(MISSING_TEXT))
    out = text.where(~missing, np.nan)
    if values.dtype == object or getattr(values.dtype, "storage", "") == "python":
        odd = out.str.contains(_SURROGATE.pattern, regex=True).fillna(False).to_numpy(dtype=bool)
        for row in np.flatnonzero(odd):
            try:
                convert(rule, out.iat[row])
            except Refusal as exc:
                refused[int(row)] = exc
        if odd.any():
            out = out.mask(odd)
    return out


def _dates(rule: ColumnRule, values: pd.Series, refused: dict[int, Refusal]) -> pd.Series:
    """datetime64 columns: to UTC (naive or aware as trained), then the range check."""
    dates = values
    if dates.dt.tz is not None:
        dates = dates.dt.tz_convert("UTC").dt.tz_localize(None)
    low, high = DATE_RANGES.get(rule.unit, DATE_RANGES["ns"])
    outside = (dates.notna() & ((dates < pd.Timestamp(low)) | (dates > pd.Timestamp(high)))).to_numpy()
    for row in np.flatnonzero(outside):
        refused[int(row)] = Refusal(
            "out_of_range",
            f"{_shown(str(dates.iat[row]))} is outside the supported dates {low.date()} to {high.date()}",
        )
    return dates.mask(outside)


def _by_value(rule: ColumnRule, values: pd.Series, refused: dict[int, Refusal]) -> pd.Series:
    """Anything else (mixed objects, categoricals, nullable booleans): `convert` on each distinct value."""
    raw = values.astype(object).to_numpy()
    result = np.empty(len(raw), dtype=object)
    cache: dict[tuple[type, Any], Any] = {}
    for row, value in enumerate(raw):
        try:
            key = (type(value), value)
            hash(key)
        except TypeError:
            key = None
        try:
            if key is not None and key in cache:
                outcome = cache[key]
            else:
                try:
                    outcome = convert(rule, value)
                except Refusal as exc:
                    outcome = exc
                if key is not None and not is_missing(value):
                    cache[key] = outcome
            if isinstance(outcome, Refusal):
                raise outcome
            result[row] = outcome
        except Refusal as exc:
            refused[row] = exc
            result[row] = None
    return pd.Series(result, dtype=object)


def _finish(rule: ColumnRule, out: pd.Series, refused: dict[int, Refusal]) -> pd.Series:
    """Missing and unseen-level checks, then the model dtype."""
    missing = out.isna().to_numpy()
    if not rule.nullable:
        for row in np.flatnonzero(missing):
            refused.setdefault(int(row), missing_refusal())
    if rule.levels is not None:
        unseen = ~missing & ~out.isin(list(rule._levels)).to_numpy()
        for row in np.flatnonzero(unseen):
            refused.setdefault(int(row), unknown_level(out.iat[row]))
        if unseen.any():
            out = out.mask(unseen)
    if rule.kind == "integer" and not rule.nullable and refused:
        out = out.where(out.notna(), 0)  # refused rows are never scored; int64 cannot hold NaN
    return as_model_dtype(rule, out)


def as_model_dtype(rule: ColumnRule, values: Any) -> pd.Series:
    """Already-converted values (None/NaN for missing) as the pipeline's dtype for the column."""
    kind = rule.kind
    if isinstance(values, list) and kind != "datetime":  # serving: a few values, no pandas detour
        return pd.Series(_array(rule, values), dtype=None if kind in ("number", "integer") else object)
    if kind in ("number", "integer"):
        floats = isinstance(values, pd.Series) and values.dtype == np.float64
        if floats and (kind == "number" or rule.nullable):
            numbers = values.to_numpy(copy=True)
            numbers[np.isnan(numbers)] = np.nan  # one NaN for every missing value, as below
            return pd.Series(numbers, index=values.index, name=values.name)
        series = pd.Series(values, dtype=object) if not isinstance(values, pd.Series) else values
        numbers = pd.to_numeric(series.astype(object).where(series.notna(), np.nan), errors="raise")
        if kind == "integer" and not rule.nullable:
            return numbers.astype("int64")
        return numbers.astype("float64")
    if kind == "datetime":
        series = values if isinstance(values, pd.Series) else pd.Series(values, dtype=object)
        if pd.api.types.is_datetime64_any_dtype(series.dtype):
            dates = series.dt.tz_localize(None) if series.dt.tz is not None else series
        else:
            dates = pd.to_datetime(
                series.map(lambda v: v.replace(tzinfo=None) if isinstance(v, datetime) else v),
                errors="raise",
            )
        dates = dates.astype(f"datetime64[{rule.unit}]")
        return dates.dt.tz_localize("UTC").dt.tz_convert(rule.tz) if rule.tz else dates
    series = values if isinstance(values, pd.Series) else pd.Series(values, dtype=object)
    series = series.astype(object)
    return series.where(series.notna(), np.nan)


def _array(rule: ColumnRule, values: list[Any]) -> np.ndarray:
    """Converted values (None for missing) as one numpy column: built in C, no per-value Python."""
    if rule.kind == "integer" and not rule.nullable:
        return np.array(values, dtype=np.int64)
    if rule.kind in ("number", "integer"):
        return np.array(values, dtype=np.float64)  # None becomes NaN
    out = np.empty(len(values), dtype=object)
    out[:] = values
    out[pd.isna(out)] = np.nan  # converted values are never NaN: this finds the None
    return out


def frame_from_records(
    rules: list[ColumnRule] | tuple[ColumnRule, ...], rows: list[dict[str, Any]]
) -> pd.DataFrame:
    """The model's input frame from records whose values `convert` already accepted (serving)."""
    return frame_from_columns(rules, {rule.name: [row[rule.name] for row in rows] for rule in rules})


def frame_from_columns(
    rules: list[ColumnRule] | tuple[ColumnRule, ...], columns: dict[str, list[Any]]
) -> pd.DataFrame:
    """The model's input frame from columns of converted values (`convert` or `convert_column`)."""
    if rules and all(rule.model_dtype == "float64" for rule in rules):
        # All numbers (the common case): one float block, built in one call, which is also what the
        # pipeline's first array conversion wants; the same values and dtypes as column by column.
        block = np.array([columns[rule.name] for rule in rules], dtype=np.float64).T
        return pd.DataFrame(block, columns=pd.Index([rule.name for rule in rules], dtype=object), copy=False)
    frame = {}
    for rule in rules:
        values = columns[rule.name]
        if rule.kind == "datetime":
            frame[rule.name] = as_model_dtype(rule, values)
        elif rule.model_dtype == "object":  # a bare object array of text would become pandas' str
            frame[rule.name] = pd.Series(_array(rule, values), dtype=object, copy=False)
        else:
            frame[rule.name] = _array(rule, values)
    return pd.DataFrame(frame, copy=False)


def convert_column(rule: ColumnRule, values: list[Any]) -> list[Any] | None:
    """`[convert(rule, v) for v in values]` for values as JSON parses them, or None if any is refused.

    The common shapes (numbers into number and integer columns, integers, booleans, text) are
    checked and converted with numpy and set operations, without a Python call per value; any other
    value (a spelling such as `"3.5"`, a date) goes through `convert` itself. A refusal is only
    reported as None: the caller re-validates value by value to name every refused field.
    """
    try:
        fast = _convert_fast(rule, values, set(map(type, values)))
    except _Refused:
        return None
    if fast is not None:
        return fast
    out: list[Any] = []
    cache: dict[tuple[type, Any], Any] = {}
    for value in values:
        key = (type(value), value)
        try:
            converted = cache[key]
        except KeyError:
            try:
                converted = convert(rule, value)
            except Refusal:
                return None
            cache[key] = converted
        except TypeError:  # unhashable (a list or an object): convert refuses or takes it as is
            try:
                converted = convert(rule, value)
            except Refusal:
                return None
        out.append(converted)
    return out


class _Refused(Exception):
    """Some value of the column is refused (which one, and why, `convert` says)."""


_NONE = type(None)


def _convert_fast(rule: ColumnRule, values: list[Any], types: set[type]) -> list[Any] | None:
    """The vectorised cases of `convert_column`: the converted list, None for "use `convert` on
    each value", or `_Refused`."""
    kind = rule.kind
    has_none = _NONE in types
    if has_none and not rule.nullable:
        raise _Refused
    out: list[Any]
    if kind == "number" and types <= {int, float, _NONE}:
        try:
            array = np.array(values, dtype=np.float64)  # None becomes NaN
        except OverflowError:
            return None
        missing = np.isnan(array)
        if missing.any() and not rule.nullable:
            raise _Refused
        if np.isinf(array).any():
            raise _Refused
        out = values if types == {float} and not missing.any() else array.tolist()  # ints become floats
        for row in np.flatnonzero(missing).tolist():
            out[row] = None
    elif kind == "integer" and types <= {int, _NONE}:
        present = [v for v in values if v is not None] if has_none else values
        try:
            np.array(present, dtype=np.int64)  # the int64 range check, in C
        except OverflowError:
            raise _Refused from None
        out = values
    elif kind == "boolean" and types <= {bool, _NONE}:
        out = values
    elif kind == "string" and types <= {str, _NONE}:
        present = [v for v in values if v is not None] if has_none else values
        if _SURROGATE.search("".join(present)):
            raise _Refused
        out = values
        if not MISSING_TEXT.isdisjoint(present):
            if not rule.nullable:
                raise _Refused
            out = [None if v in MISSING_TEXT else v for v in values]
    else:
        return None
    if rule.levels is not None and not (set(out) - {None}) <= rule._levels:
        raise _Refused
    return out


# --- the pipeline's first step -------------------------------------------------------------------


class ConformInput(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """First step of every mmp pipeline: input in any dtype -> the model's dtypes, or a clear error.

    With it, `mlflow.pyfunc.load_model(...).predict(frame)` accepts rows as read from the original
    file (missing values anywhere, dates as ISO text) and refuses what every mmp surface refuses.
    """

    def __init__(self, rules: tuple[ColumnRule, ...] = ()) -> None:
        self.rules = rules

    def fit(self, X: Any, y: Any = None) -> ConformInput:
        self.n_features_in_ = len(self.rules)
        self.feature_names_in_ = np.asarray([r.name for r in self.rules], dtype=object)
        return self

    def transform(self, X: Any) -> pd.DataFrame:
        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X, columns=[r.name for r in self.rules])
        conformed = conform_frame(self.rules, frame)
        first = conformed.first()
        if first is not None:
            row, column, refusal = first
            raise ValueError(f"row {row}: column {column!r}: {refusal.message} [{refusal.code}]")
        return conformed.frame

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray([r.name for r in self.rules], dtype=object)
