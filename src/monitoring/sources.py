"""Open what `mmp monitor` reads: a prediction log folder, files or a glob (Arrow datasets), or SQL.

Everything streams in record batches (bounded memory). SQL sources (`sql://TABLE`, a `.sql` file
or an inline query) are read through `mmp.core.sql`, the one SQL reader, as batch-inference does.
A log folder written by the server is hive-partitioned (`date=.../model_version=...`), which
`pyarrow.dataset` reads as columns. Remote folders (s3://, gs://, ...) go through pyarrow's
filesystems, like the batch readers.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from mmp.core.data_io import is_sql_source, read_query_text
from mmp.core.errors import MmpError, first_line
from mmp.core.redact import mask

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.dataset as ds

_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".tsv": "csv"}


def _format_of(name: str) -> str | None:
    for suffix, fmt in _FORMATS.items():
        if name.lower().endswith(suffix) or name.lower().endswith(suffix + ".gz"):
            return fmt
    return None


def open_dataset(source: str, what: str = "--data") -> ds.Dataset:
    """A dataset over a file, a folder (Parquet or CSV files, hive partitions) or a glob."""
    import pyarrow.dataset as ds

    if "://" in source:
        fmt = _format_of(source) or "parquet"
        try:
            return ds.dataset(source, format=fmt, partitioning="hive")
        except (OSError, ValueError) as exc:
            raise MmpError(f"{what}: cannot open {source}: {first_line(exc)}") from None
    if any(ch in source for ch in "*?["):
        files = sorted(glob.glob(source, recursive=True))
        if not files:
            raise MmpError(f"{what}: no file matches {source}", "check the pattern")
        fmt = _format_of(files[0]) or "parquet"
        return _dataset(files, fmt, what, source)
    path = Path(source)
    if not path.exists():
        raise MmpError(f"{what}: not found: {source}", f"check the path (looked in {Path.cwd()})")
    if path.is_dir():
        files = sorted(
            str(p)
            for p in path.rglob("*")
            if p.is_file()
            and _format_of(p.name)
            and not any(s.startswith((".", "_")) for s in p.relative_to(path).parts)
        )
        if not files:
            raise MmpError(
                f"{what}: no .parquet or .csv file under {source}", "point at a prediction log folder"
            )
        fmt = _format_of(files[0]) or "parquet"
        return _dataset(files, fmt, what, source, root=str(path))
    single = _format_of(path.name)
    if single is None:
        raise MmpError(
            f"{what}: unsupported format: {source}", "use .parquet or .csv files, or a folder of them"
        )
    return _dataset([str(path)], single, what, source)


def _dataset(files: list[str], fmt: str, what: str, source: str, root: str | None = None) -> ds.Dataset:
    import pyarrow.dataset as ds

    file_format: ds.FileFormat | str = fmt
    if fmt == "csv" and files[0].lower().endswith((".tsv", ".tsv.gz")):
        import pyarrow.csv as pacsv

        file_format = ds.CsvFileFormat(parse_options=pacsv.ParseOptions(delimiter="\t"))
    try:
        partitioning = ds.HivePartitioning.discover(infer_dictionary=False) if root else None
        return ds.dataset(files, format=file_format, partitioning=partitioning, partition_base_dir=root)
    except (OSError, ValueError) as exc:
        raise MmpError(f"{what}: cannot read {source}: {first_line(exc)}", "check the files") from None


SQL_TABLE = "sql://"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")


def is_sql(source: str) -> bool:
    """A SQL source: `sql://TABLE`, a `.sql` file or an inline SELECT/WITH query."""
    return source.startswith(SQL_TABLE) or is_sql_source(source)


def sql_tables(source: str, uri: str, what: str, chunk_rows: int) -> Iterator[pa.Table]:
    """Stream a SQL source (`sql://TABLE`, a `.sql` file or a query) in tables of `chunk_rows` rows."""
    from mmp.core.sql import stream_query

    if source.startswith(SQL_TABLE):
        table = source[len(SQL_TABLE) :]
        if not _IDENTIFIER.match(table):
            raise MmpError(
                f"{what}: '{mask(table)}' is not a table name", "use sql://TABLE or sql://SCHEMA.TABLE"
            )
        query = f"SELECT * FROM {table}"
    else:
        query = read_query_text(source)
    return stream_query(uri, query, chunk_rows, f"{what} {describe(source)}")


def describe(source: str) -> str:
    """How a source is named in messages: a path or table as given, an inline query by its kind
    (the text may be long), and never a password."""
    if is_sql_source(source) and not source.lower().endswith(".sql"):
        return "(inline SQL query)"
    return mask(source)
