"""Stream the input in chunks of about `chunk_rows` rows, whatever its format.

Every reader yields Arrow tables holding only the columns the model needs, in input order, and
never holds more than a chunk (plus one Parquet row group or CSV block) in memory:

- Parquet: `ParquetFile.iter_batches`, one row group at a time (the row count comes from metadata).
- CSV/TSV: `pyarrow.csv.open_csv`, every needed column read as text and typed later by the checks,
  so a bad value in row 9,000,000 becomes a reject rather than a parse error for the whole block.
- JSON Lines: `chunk_rows` lines at a time parsed by pyarrow, with a per-line fallback for chunks
  pyarrow refuses (a column that changes type, a broken line).
- SQL: SQLAlchemy with `stream_results` (server-side cursors where the driver has them) fetched in
  partitions, so the database never sends everything at once.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import itertools
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from mmp.core.errors import MmpError, first_line
from mmp.pipelines.batch.checks import require_columns
from mmp.pipelines.batch.locations import FileInput, InputSpec, SqlInput

if TYPE_CHECKING:
    import pyarrow as pa

# A malformed record (bad CSV line, broken JSON line): the reader reports it and drops it when the
# callback returns True (`--on-error skip`), or stops the job when it returns False.
OnMalformed = Callable[[str], bool]
CSV_BLOCK_BYTES = 4 << 20


@dataclass
class Stream:
    """An opened input: its total row count when known up front, and its chunks."""

    total_rows: int | None
    chunks: Iterator[pa.Table]
    on_close: Callable[[], None] | None = None

    def close(self) -> None:
        """Release files and connections, whether or not every chunk was read (safe to call twice)."""
        self.chunks.close()  # type: ignore[attr-defined]
        if self.on_close is not None:
            on_close, self.on_close = self.on_close, None
            on_close()


def open_stream(
    spec: InputSpec,
    wanted: list[str],
    chunk_rows: int,
    on_malformed: OnMalformed,
    text_columns: Iterable[str] = (),
) -> Stream:
    """Open `spec` for streaming the `wanted` columns; a missing column fails here, before scoring.

    `text_columns` are columns the model treats as strings: readers that guess types (JSON) keep
    their original text instead of turning date-like strings into timestamps.
    """
    if isinstance(spec, SqlInput):
        return _sql_stream(spec, wanted, chunk_rows)
    if spec.format == "parquet":
        total = 0
        for file in spec.files:
            total += _parquet_file(file).metadata.num_rows
        return Stream(total, _parquet_chunks(spec.files, wanted, chunk_rows))
    if spec.format in ("csv", "tsv"):
        delimiter = "\t" if spec.format == "tsv" else ","
        for file in spec.files[:1]:  # fail at once on the first file; later ones are checked as reached
            require_columns(wanted, _csv_header(file, delimiter), str(file))
        return Stream(None, _csv_chunks(spec.files, wanted, chunk_rows, delimiter, on_malformed))
    return Stream(None, _jsonl_chunks(spec, wanted, chunk_rows, on_malformed, set(text_columns)))


def rechunk(batches: Iterable[pa.RecordBatch], rows: int) -> Iterator[pa.Table]:
    """Group record batches (of one schema) into tables of exactly `rows` rows, the last one shorter."""
    import pyarrow as pa

    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        while batch.num_rows:
            take = min(rows - count, batch.num_rows)
            pending.append(batch.slice(0, take))
            batch = batch.slice(take)
            count += take
            if count == rows:
                yield pa.Table.from_batches(pending)
                pending, count = [], 0
    if count:
        yield pa.Table.from_batches(pending)


# --- Parquet ---------------------------------------------------------------------------------


def _parquet_file(file: Path) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(file)
    except (pa.ArrowException, OSError) as exc:
        raise MmpError(f"cannot read {file}: {exc}", "check that it is a valid Parquet file") from None


def _parquet_chunks(files: list[Path], wanted: list[str], chunk_rows: int) -> Iterator[pa.Table]:
    import pyarrow as pa

    for file in files:
        parquet = _parquet_file(file)
        try:
            require_columns(wanted, parquet.schema_arrow.names, str(file))
            # One reader per row group: a single `iter_batches` over a whole file keeps decoded
            # buffers alive as it goes (pyarrow 25: +30 MB per 4 row groups of 100k x 6 columns),
            # so memory would grow with the file.
            batches = (
                batch
                for group in range(parquet.metadata.num_row_groups)
                for batch in parquet.iter_batches(batch_size=chunk_rows, row_groups=[group], columns=wanted)
            )
            with _read_errors(file):
                yield from rechunk(batches, chunk_rows)
        finally:
            with contextlib.suppress(pa.ArrowException, OSError):
                parquet.close()


# --- CSV -------------------------------------------------------------------------------------


def _open_binary(file: Path) -> BinaryIO:
    return cast(BinaryIO, gzip.open(file, "rb") if file.suffix.lower() == ".gz" else open(file, "rb"))


def _csv_header(file: Path, delimiter: str) -> list[str]:
    with _open_binary(file) as raw, io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as text:
        try:
            return next(csv.reader(text, delimiter=delimiter))
        except StopIteration:
            raise MmpError(f"{file} is empty", "a CSV input needs a header line") from None
        except (UnicodeDecodeError, csv.Error) as exc:
            raise MmpError(f"cannot read the header of {file}: {exc}", "save the file as UTF-8") from None


def _csv_chunks(
    files: list[Path], wanted: list[str], chunk_rows: int, delimiter: str, on_malformed: OnMalformed
) -> Iterator[pa.Table]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    for file in files:
        require_columns(wanted, _csv_header(file, delimiter), str(file))

        def invalid(row: Any, file: Path = file) -> str:
            where = f"line {row.number}" if row.number is not None else "a line"
            reason = (
                f"{file}: {where} has {row.actual_columns} fields, expected {row.expected_columns}: "
                f"{row.text[:200]!r}"
            )
            return "skip" if on_malformed(reason) else "error"

        with _read_errors(file):
            reader = pacsv.open_csv(
                file,
                read_options=pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES),
                parse_options=pacsv.ParseOptions(
                    delimiter=delimiter, newlines_in_values=True, invalid_row_handler=invalid
                ),
                convert_options=pacsv.ConvertOptions(
                    column_types={name: pa.string() for name in wanted},
                    include_columns=wanted,
                    strings_can_be_null=True,
                ),
            )
            try:
                yield from rechunk(reader, chunk_rows)
            finally:
                reader.close()


@contextlib.contextmanager
def _read_errors(file: Path) -> Iterator[None]:
    import pyarrow as pa

    try:
        yield
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        message = first_line(exc)
        raise MmpError(f"cannot read {file}: {message}", "fix the file, or use --on-error skip") from None
    except OSError as exc:
        raise MmpError(f"cannot read {file}: {exc}") from None


# --- JSON Lines ------------------------------------------------------------------------------


def _jsonl_chunks(
    spec: FileInput, wanted: list[str], chunk_rows: int, on_malformed: OnMalformed, text: set[str]
) -> Iterator[pa.Table]:
    for index, file in enumerate(spec.files):
        with _open_binary(file) as fh:
            lines = (line for line in fh if line.strip())
            number = 0
            while True:
                block = list(itertools.islice(lines, chunk_rows))
                if not block:
                    if index == 0 and number == 0:
                        raise MmpError(f"{file} has no records", "a JSON Lines file holds one object a line")
                    break
                table = _parse_json_block(block, wanted, text, file, number, on_malformed)
                if number == 0:
                    require_columns(wanted, table.column_names, str(file))
                number += len(block)
                yield _select(table, wanted)


def _parse_json_block(
    block: list[bytes], wanted: list[str], text: set[str], file: Path, first: int, on_malformed: OnMalformed
) -> pa.Table:
    import pyarrow as pa
    import pyarrow.json as pajson

    try:
        table = pajson.read_json(
            io.BytesIO(b"".join(line if line.endswith(b"\n") else line + b"\n" for line in block)),
            read_options=pajson.ReadOptions(use_threads=False, block_size=64 << 20),
        )
    except pa.ArrowInvalid:
        return _parse_json_slowly(block, wanted, file, first, on_malformed)
    guessed = [n for n in text if n in table.column_names and not pa.types.is_string(table[n].type)]
    if any(pa.types.is_timestamp(table[n].type) for n in guessed):
        return _parse_json_slowly(block, wanted, file, first, on_malformed)
    return table


def _parse_json_slowly(
    block: list[bytes], wanted: list[str], file: Path, first: int, on_malformed: OnMalformed
) -> pa.Table:
    """One `json.loads` per line: slower, but tells which line is broken and keeps odd values as text."""
    import pyarrow as pa

    columns: dict[str, list[Any]] = {name: [] for name in wanted}
    for offset, line in enumerate(block):
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError(f"expected an object, got {type(record).__name__}")
        except ValueError as exc:
            reason = f"{file}: record {first + offset + 1} is not a JSON object ({exc}): {line[:200]!r}"
            if on_malformed(reason):
                continue
            raise MmpError(reason, "fix the line, or use --on-error skip") from None
        for name in wanted:
            columns[name].append(record.get(name))
    arrays = {}
    for name, values in columns.items():
        try:
            arrays[name] = pa.array(values)
        except (pa.ArrowException, TypeError, ValueError):
            arrays[name] = pa.array([None if v is None else _as_text(v) for v in values], pa.string())
    return pa.table(arrays)


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _select(table: pa.Table, wanted: list[str]) -> pa.Table:
    """The wanted columns in order; a key absent from every record of a chunk becomes nulls."""
    import pyarrow as pa

    arrays = [table[n] if n in table.column_names else pa.nulls(table.num_rows) for n in wanted]
    return pa.table(arrays, names=wanted)


# --- SQL -------------------------------------------------------------------------------------


def _sql_stream(spec: SqlInput, wanted: list[str], chunk_rows: int) -> Stream:
    import sqlalchemy as sa

    from mmp.core.sql import create_engine
    from mmp.recipe.config import SqlSettings

    engine = create_engine(SqlSettings(uri_env=spec.uri_env).uri())
    try:
        conn = engine.connect()
        result = conn.execution_options(stream_results=True, yield_per=chunk_rows).execute(
            sa.text(spec.query)
        )
        keys = list(result.keys())
        require_columns(wanted, keys, spec.description)
    except sa.exc.SQLAlchemyError as exc:
        engine.dispose()
        raise _sql_error(exc) from None
    except BaseException:
        engine.dispose()
        raise

    def release() -> None:
        with contextlib.suppress(Exception):
            result.close()
        with contextlib.suppress(Exception):
            conn.close()
        engine.dispose()

    return Stream(None, _sql_chunks(result, keys, wanted, chunk_rows), on_close=release)


def _sql_chunks(result: Any, keys: list[str], wanted: list[str], chunk_rows: int) -> Iterator[pa.Table]:
    import sqlalchemy as sa

    from mmp.core.sql import rows_to_table

    positions = [keys.index(name) for name in wanted]
    try:
        for rows in result.partitions(chunk_rows):
            yield rows_to_table(rows, wanted, positions)
    except sa.exc.SQLAlchemyError as exc:
        raise _sql_error(exc) from None


def _sql_error(exc: Exception) -> MmpError:
    from mmp.core.sql import sql_error

    return sql_error(exc, "SQL query failed")
