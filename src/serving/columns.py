"""A batch of records as columns: read, checked and converted column by column, not record by record.

`/predict/batch` with 1000 records spent most of its time validating each value through a pydantic
model (one Python call per value). `BatchReader.read` takes the parsed JSON body instead: it checks
that every record has exactly the contract's request columns (set comparisons in C), transposes the
records into columns, and converts each column with `conformance.convert_column`, the vectorised
form of the same rules. Anything it does not accept as a whole (a refused value, a missing or
unknown column, a body of another shape) makes it answer None, and the route then validates the
body with the generated pydantic model, which names every refused field exactly as before. So the
fast path changes how long an accepted batch takes, never which batches are accepted or what a
refusal says.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, overload

from mmp.core.conformance import ColumnRule, convert_column
from mmp.core.contract import FeatureContract


@dataclass(frozen=True)
class Columns:
    """Converted values (what `conformance.convert` returns) of n records, one list per column."""

    names: tuple[str, ...]
    values: dict[str, list[Any]]
    n: int

    @classmethod
    def from_rows(cls, names: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> Columns:
        return cls(tuple(names), {name: [row[name] for row in rows] for name in names}, len(rows))

    def __len__(self) -> int:
        return self.n

    def slice(self, start: int, stop: int) -> Columns:
        return Columns(
            self.names, {k: v[start:stop] for k, v in self.values.items()}, len(range(self.n)[start:stop])
        )

    def rows(self) -> RowView:
        """The records as {column: value} mappings, built only when read (the prediction log's
        writer thread reads them, never the request path)."""
        return RowView(self)


class RowView(Sequence[dict[str, Any]]):
    """A read-only sequence of the records of `Columns`, each built on access."""

    def __init__(self, columns: Columns) -> None:
        self._columns = columns

    def __len__(self) -> int:
        return self._columns.n

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...
    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        return {name: values[index] for name, values in self._columns.values.items()}

    def __iter__(self) -> Iterator[dict[str, Any]]:
        names = self._columns.names
        lists = [self._columns.values[name] for name in names]
        for record in zip(*lists, strict=True):
            yield dict(zip(names, record, strict=True))


class BatchReader:
    """Reads `{"records": [...]}` bodies for one contract into `Columns` (see the module docstring)."""

    def __init__(self, contract: FeatureContract, max_records: int) -> None:
        self.names = tuple(contract.request_columns)
        self.rules: tuple[ColumnRule, ...] = tuple(contract.rules(list(self.names)))
        self.max_records = max_records
        self._keys = dict.fromkeys(self.names).keys()
        self._row = itemgetter(*self.names) if self.names else None

    def read(self, payload: Any) -> Columns | None:
        """The body's records as converted columns, or None when the body needs the record-by-record
        validation (anything other than a valid batch of at most `max_records` records)."""
        if type(payload) is not dict or len(payload) != 1:
            return None
        records = payload.get("records")
        if type(records) is not list or not 1 <= len(records) <= self.max_records or self._row is None:
            return None
        try:  # every record a JSON object with exactly the request columns (dict.keys refuses others)
            if not all(map(self._keys.__eq__, map(dict.keys, records))):
                return None
        except TypeError:
            return None
        if len(self.names) == 1:
            transposed = [list(map(self._row, records))]
        else:
            transposed = [list(column) for column in zip(*map(self._row, records), strict=True)]
        values: dict[str, list[Any]] = {}
        for rule, column in zip(self.rules, transposed, strict=True):
            converted = convert_column(rule, column)
            if converted is None:
                return None
            values[rule.name] = converted
        return Columns(self.names, values, len(records))
