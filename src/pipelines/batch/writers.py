"""Append scored chunks to an output file that only appears, complete, when the job succeeds.

Every writer has the same three calls: `write(table)` per chunk, then `commit()` on success or
`abort()` on any failure. The schema is fixed when the writer opens, so an empty input still
produces a valid, empty file with the right columns.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from mmp.core.errors import MmpError
from mmp.core.staged import AtomicFile, Staged, sweep_stale_partials
from mmp.pipelines.batch.locations import FileOutput

if TYPE_CHECKING:
    import pyarrow as pa


class Writer(Staged, Protocol):
    """Where scored rows go: a file or a SQL table, invisible until `commit()` (the staged-output
    protocol of `mmp.core.staged`, plus `write`)."""

    def write(self, table: pa.Table) -> None: ...

    def commit(self) -> None: ...

    def abort(self) -> None: ...


def refuse_to_overwrite(target: FileOutput, force: bool, what: str = "output") -> None:
    """An existing file is replaced only with `--force`; stale partial files of killed runs are swept."""
    sweep_stale_partials(target.path)
    if target.path.exists() and not force:
        raise MmpError(f"the {what} {target.path} already exists", "pass --force to replace it")


def open_file_writer(target: FileOutput, schema: pa.Schema) -> Writer:
    if target.format == "parquet":
        return ParquetWriter(target.path, schema)
    if target.format in ("csv", "tsv"):
        return CsvWriter(target.path, schema, "\t" if target.format == "tsv" else ",")
    return JsonLinesWriter(target.path, schema)


class _AtomicWriter:
    """Shared commit/abort around an `AtomicFile`; subclasses write and finish the format."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.path = path
        self.schema = schema
        self.file = AtomicFile(path)

    def write(self, table: pa.Table) -> None:
        if table.num_rows:
            self._write(table.cast(self.schema) if table.schema != self.schema else table)

    def _write(self, table: pa.Table) -> None:
        raise NotImplementedError

    def _finish(self) -> None:
        """Write the format's trailer (Parquet footer) into the still-anonymous file."""

    def commit(self) -> None:
        try:
            self._finish()
            self.file.commit()
        except OSError as exc:
            self.abort()
            raise MmpError(
                f"cannot write {self.path}: {exc}", "check free disk space and permissions"
            ) from None

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self._finish()
        self.file.abort()


class _ArrowFileWriter(_AtomicWriter):
    """A file writer backed by one of Arrow's incremental writers (`self._writer`)."""

    _writer: Any

    def _write(self, table: pa.Table) -> None:
        self._writer.write_table(table)

    def _finish(self) -> None:
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.close()


class ParquetWriter(_ArrowFileWriter):
    """One row group per chunk, so readers can stream the output as it was written."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        import pyarrow.parquet as pq

        super().__init__(path, schema)
        self._writer = pq.ParquetWriter(self.file.file, schema)


class CsvWriter(_ArrowFileWriter):
    """RFC 4180 CSV (quotes where needed), UTF-8, header line first."""

    def __init__(self, path: Path, schema: pa.Schema, delimiter: str = ",") -> None:
        import pyarrow.csv as pacsv

        super().__init__(path, schema)
        options = pacsv.WriteOptions(delimiter=delimiter, quoting_style="needed")
        self._writer = pacsv.CSVWriter(self.file.file, schema, write_options=options)


class JsonLinesWriter(_AtomicWriter):
    """One JSON object per line: floats that round-trip exactly, ISO 8601 dates, NaN as null, UTF-8."""

    def _write(self, table: pa.Table) -> None:
        import json

        lines = [
            json.dumps(row, ensure_ascii=False, default=_json_value, allow_nan=False)
            for row in _nan_as_null(table).to_pylist()
        ]
        self.file.file.write(("\n".join(lines) + "\n").encode("utf-8"))


def _nan_as_null(table: pa.Table) -> pa.Table:
    import pyarrow as pa
    import pyarrow.compute as pc

    for i, column in enumerate(table.columns):
        if pa.types.is_floating(column.type) and pc.any(pc.is_nan(column)).as_py():
            table = table.set_column(i, table.field(i), pc.if_else(pc.is_nan(column), None, column))
    return table


def _json_value(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)
