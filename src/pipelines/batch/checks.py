"""Check input against the feature contract: columns up front, then every value of every chunk.

A missing column stops the job before the first row is scored. Each value is then converted by
`mmp.core.conformance`, the rules `/predict`, Spark and the logged model share: a value a column
does not accept (text in a number column, 2.5 in an integer column, a date that does not parse, a
null where training had none, an unseen level where the encoder refuses them) marks its row as
unscorable, with the column and the reason. Conversion is vectorised per column; only values of
unusual types are looked at one by one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mmp.core.errors import MmpError
from mmp.core.suggest import did_you_mean

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from mmp.core.contract import ColumnContract


class MissingColumnsError(MmpError):
    """Input lacks columns the job reads; `missing` names them (callers may give a better hint)."""

    def __init__(self, message: str, hint: str, missing: list[str]) -> None:
        super().__init__(message, hint)
        self.missing = missing


def require_columns(wanted: Iterable[str], available: Iterable[str], where: str) -> None:
    """Fail at once, naming every missing column (with a 'did you mean' for typos)."""
    have = list(available)
    missing = [name for name in wanted if name not in set(have)]
    if not missing:
        return
    named = ", ".join(f"'{m}'{did_you_mean(m, have)}" for m in missing)
    noun = "column" if len(missing) == 1 else "columns"
    raise MissingColumnsError(
        f"{where} is missing the {noun} {named}",
        "the model needs every feature and entity column of its feature contract "
        "(mmp validate or the model's feature_contract.json lists them)",
        missing,
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

    def copy(self) -> Problems:
        """An independent copy: a scorer adds its model's refusals to the problems it was given."""
        return Problems(dict(self.first_column), {row: list(r) for row, r in self.reasons.items()})

    def rows(self) -> list[int]:
        return sorted(self.reasons)


def coerce(table: pa.Table, specs: list[ColumnContract]) -> tuple[pd.DataFrame, Problems]:
    """Each column converted to the model's dtype; refused values become missing and their rows are
    recorded (reason: `<column>: <message> [<code>]`)."""
    from mmp.core.conformance import conform_frame

    frame = table.select([s.name for s in specs]).to_pandas()
    conformed = conform_frame([s.rule() for s in specs], frame)
    problems = Problems.none()
    for row, refusals in conformed.refused.items():
        for column, refusal in refusals:
            problems.add([row], column, f"{refusal.message} [{refusal.code}]")
    return conformed.frame.reset_index(drop=True), problems
