"""Check input against the feature contract: columns up front, then every value of every chunk.

A missing column stops the job before the first row is scored. Each value is then cast to the type
training saw; a value that cannot be (text in a number column, 2.5 in an integer column, a date
that does not parse, a null where training had none) marks its row as unscorable, with the column
and a reason. The fast path is one Arrow cast per column; only a column whose cast fails is looked
at value by value, to find the rows to blame.

Unknown categorical levels are *not* errors here: the pipeline's encoders decide (mmp's recipes
encode unseen levels as all-zero, `handle_unknown: ignore`/`infrequent_if_exist`). If an encoder
refuses a level, the scorer blames that row and column like any other unscorable value.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mmp.core.errors import MmpError
from mmp.core.suggest import did_you_mean

if TYPE_CHECKING:
    import pyarrow as pa

    from mmp.core.contract import ColumnContract

_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0"}
_EXPECTED = {
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "datetime": "a date/time",
    "string": "text",
}


def require_columns(wanted: Iterable[str], available: Iterable[str], where: str) -> None:
    """Fail at once, naming every missing column (with a 'did you mean' for typos)."""
    have = list(available)
    missing = [name for name in wanted if name not in set(have)]
    if not missing:
        return
    named = ", ".join(f"'{m}'{did_you_mean(m, have)}" for m in missing)
    noun = "column" if len(missing) == 1 else "columns"
    raise MmpError(
        f"{where} is missing the {noun} {named}",
        "the model needs every feature and entity column of its feature contract "
        "(mmp validate or the model's feature_contract.json lists them)",
    )


def arrow_type(spec: ColumnContract) -> pa.DataType:
    """The Arrow type a contract column is cast to (and written as)."""
    import pyarrow as pa

    if spec.dtype == "integer":
        return pa.int64()
    if spec.dtype == "number":
        return pa.float64()
    if spec.dtype == "boolean":
        return pa.bool_()
    if spec.dtype == "datetime":
        return _timestamp_type(spec.pandas_dtype)
    return pa.string()


def _timestamp_type(pandas_dtype: str) -> pa.DataType:
    import pyarrow as pa

    match = re.match(r"datetime64\[(?P<unit>s|ms|us|ns)(?:,\s*(?P<tz>[^\]]+))?\]", pandas_dtype)
    if not match:
        return pa.timestamp("us")
    return pa.timestamp(match["unit"], tz=match["tz"])


@dataclass
class Problems:
    """Unscorable rows of one chunk: row position -> (first bad column, every reason)."""

    first_column: dict[int, str]
    reasons: dict[int, list[str]]

    @classmethod
    def none(cls) -> Problems:
        return cls({}, {})

    def add(self, rows: Iterable[int], column: str, reason: str | Callable[[int], str]) -> None:
        """Record `column` as a problem of each row; `reason` may depend on the row."""
        for row in rows:
            text = reason(row) if callable(reason) else reason
            self.first_column.setdefault(row, column)
            self.reasons.setdefault(row, []).append(f"{column}: {text}")

    def __bool__(self) -> bool:
        return bool(self.reasons)

    def rows(self) -> list[int]:
        return sorted(self.reasons)


def coerce(table: pa.Table, specs: list[ColumnContract]) -> tuple[pa.Table, Problems]:
    """Cast each column to its contract type; bad values become nulls and their rows are recorded."""
    import pyarrow as pa

    problems = Problems.none()
    arrays = []
    for spec in specs:
        typed, bad, raw = _cast(table[spec.name], spec)
        if bad is not None:
            problems.add(bad, spec.name, functools.partial(_wrong_at, raw, spec))
        if not spec.nullable:
            nulls = _null_positions(typed)
            if bad:
                already = set(bad)
                nulls = [r for r in nulls if r not in already]
            problems.add(nulls, spec.name, "missing value, and training had none in this column")
        arrays.append(typed)
    return pa.table(arrays, names=[s.name for s in specs]), problems


def _wrong_at(raw: Any, spec: ColumnContract, row: int) -> str:
    return _wrong(raw[row], spec)


def _wrong(value: Any, spec: ColumnContract) -> str:
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return f"expected {_EXPECTED[spec.dtype]}, got {shown}"


def _null_positions(array: pa.ChunkedArray) -> list[int]:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if array.null_count == 0 and not pa.types.is_floating(array.type):
        return []
    mask = pc.is_null(array, nan_is_null=True)
    return np.flatnonzero(mask.to_numpy(zero_copy_only=False)).tolist()


def _cast(array: pa.ChunkedArray, spec: ColumnContract) -> tuple[pa.ChunkedArray, list[int] | None, Any]:
    """(typed array, positions of bad values or None, the raw values for messages)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    target = arrow_type(spec)
    if array.type == target:
        return array, None, None
    if pa.types.is_null(array.type):
        return pa.chunked_array([pa.nulls(len(array), target)]), None, None
    if spec.dtype == "boolean" and pa.types.is_string(array.type):
        return _cast_by_value(array, spec)  # yes/no, Y/N: wider than Arrow's true/false/1/0
    try:
        return pc.cast(array, target, safe=True), None, None
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return _cast_by_value(array, spec)


def _cast_by_value(array: pa.ChunkedArray, spec: ColumnContract) -> tuple[pa.ChunkedArray, list[int], Any]:
    """Slow path: convert value by value with pandas, keeping what parses and blaming the rest."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    raw = array.to_pandas()
    if spec.dtype in ("integer", "number"):
        numbers = pd.to_numeric(raw.astype(object).map(_number_text), errors="coerce")
        if spec.dtype == "integer":
            fractional = numbers.notna() & (numbers != np.floor(numbers.fillna(0)))
            numbers = numbers.mask(fractional)
        converted: pd.Series = numbers
    elif spec.dtype == "boolean":
        converted = raw.map(_boolean, na_action="ignore")
    elif spec.dtype == "datetime":
        converted = _datetimes(raw)
    else:
        converted = raw.map(_text, na_action="ignore")
    bad_mask = converted.isna().to_numpy() & raw.notna().to_numpy()
    typed = pa.array(converted.where(~bad_mask, None), type=arrow_type(spec), from_pandas=True)
    return pa.chunked_array([typed]), np.flatnonzero(bad_mask).tolist(), raw.to_numpy()


def _number_text(value: Any) -> Any:
    if isinstance(value, bool):
        return float(value)
    return value.strip() if isinstance(value, str) else value


def _boolean(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None


def _datetimes(raw: Any) -> Any:
    import warnings

    import pandas as pd

    with warnings.catch_warnings():
        # Per-element parsing of mixed formats is exactly what this fallback is for.
        warnings.filterwarnings("ignore", message="Could not infer format", category=UserWarning)
        return pd.to_datetime(raw, errors="coerce", format="mixed")


def _text(value: Any) -> Any:
    return value if isinstance(value, str) else str(value)
