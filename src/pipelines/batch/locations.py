"""What `--data-path` and `--output-path` name: files and their formats, a SQL query, a SQL table.

Parsing happens before the model is loaded, so a typo in a path or an unknown extension fails in
milliseconds rather than after a model download.
"""

from __future__ import annotations

import glob
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mmp.core.data_io import is_sql_source, read_query_text
from mmp.core.errors import MmpError
from mmp.recipe.config import Config

FileFormat = Literal["parquet", "csv", "tsv", "jsonl"]
SQL_SCHEME = "sql://"
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
_SUFFIXES: dict[str, FileFormat] = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}
_COMPRESSED = (".gz",)
FORMATS_HINT = (
    "use .parquet, .csv, .tsv or .jsonl (optionally .gz), a folder of them, a glob, or a .sql query"
)


def file_format(path: Path) -> FileFormat | None:
    """The format a file name announces, looking through a compression suffix (data.csv.gz)."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSED:
        suffixes = suffixes[:-1]
    return _SUFFIXES.get(suffixes[-1]) if suffixes else None


@dataclass(frozen=True)
class FileInput:
    """One or more files of one format, read in this order."""

    files: list[Path]
    format: FileFormat
    given: str

    @property
    def description(self) -> str:
        return self.given if len(self.files) == 1 else f"{self.given} ({len(self.files)} files)"


@dataclass(frozen=True)
class SqlInput:
    """A query run through SQLAlchemy; the URI comes from the environment variable `uri_env`."""

    query: str
    uri_env: str
    given: str

    @property
    def description(self) -> str:
        return self.given if self.given.lower().endswith(".sql") else "inline SQL query"


InputSpec = FileInput | SqlInput


def _hidden(path: Path, root: Path) -> bool:
    parts = path.relative_to(root).parts
    return any(p.startswith((".", "_")) for p in parts)


def parse_input(source: str, config: Config) -> InputSpec:
    """A file, a folder of files, a glob, a `.sql` file or an inline query."""
    if is_sql_source(source):
        return SqlInput(query=read_query_text(source), uri_env=config.sql.uri_env, given=source)
    if glob.has_magic(source):
        files = sorted(Path(p) for p in glob.glob(source, recursive=True) if Path(p).is_file())
        if not files:
            raise MmpError(f"no files match {source}", "check the pattern (quote it so the shell keeps it)")
        return FileInput(files, _one_format(files, source), source)
    path = Path(source)
    if path.is_dir():
        files = sorted(
            p for p in path.rglob("*") if p.is_file() and not _hidden(p, path) and file_format(p) is not None
        )
        if not files:
            raise MmpError(f"no data files in the folder {source}", FORMATS_HINT)
        return FileInput(files, _one_format(files, source), source)
    if not path.is_file():
        raise MmpError(f"data not found: {source}", f"check --data-path (looked in {Path.cwd()})")
    fmt = file_format(path)
    if fmt is None:
        raise MmpError(f"unsupported input format: {source}", FORMATS_HINT)
    return FileInput([path], fmt, source)


def _one_format(files: list[Path], source: str) -> FileFormat:
    formats = {file_format(f) for f in files}
    if None in formats:
        odd = next(f for f in files if file_format(f) is None)
        raise MmpError(f"unsupported input format: {odd} (in {source})", FORMATS_HINT)
    if len(formats) > 1:
        raise MmpError(
            f"{source} mixes formats ({', '.join(sorted(str(f) for f in formats))})",
            "point --data-path at files of one format, e.g. a glob such as 'data/*.parquet'",
        )
    return formats.pop()  # type: ignore[return-value]


@dataclass(frozen=True)
class FileOutput:
    path: Path
    format: FileFormat

    @property
    def description(self) -> str:
        return str(self.path)


@dataclass(frozen=True)
class SqlOutput:
    """A table written through a staging table and swapped in with one transaction."""

    table: str
    uri_env: str
    if_exists: Literal["replace", "append", "fail"]

    @property
    def description(self) -> str:
        return f"{SQL_SCHEME}{self.table}"


OutputSpec = FileOutput | SqlOutput


def parse_output(output: str | None, config: Config) -> OutputSpec:
    """`--output-path` (a file or `sql://table`), else the config's `batch.output` block."""
    settings = config.batch.output
    uri_env = settings.uri_env or config.sql.uri_env
    if output is None:
        if settings.kind == "sql":
            if not settings.table:
                raise MmpError("batch.output.kind is sql but batch.output.table is empty", "set the table")
            return SqlOutput(_table_name(settings.table), uri_env, settings.if_exists)
        if not settings.path:
            raise MmpError(
                "no output: pass --output-path",
                "e.g. --output-path preds.parquet or sql://predictions, or set batch.output in the config",
            )
        output = settings.path
    if output.lower().startswith(SQL_SCHEME):
        return SqlOutput(_table_name(output[len(SQL_SCHEME) :]), uri_env, settings.if_exists)
    path = Path(output)
    fmt = file_format(path)
    if fmt is None or path.suffix.lower() in _COMPRESSED:
        raise MmpError(
            f"unsupported output format: {output}",
            "use .parquet, .csv, .tsv or .jsonl, or sql://TABLE for a database table",
        )
    if path.is_dir():
        raise MmpError(f"{output} is a folder", "name an output file, e.g. preds.parquet")
    return FileOutput(path, fmt)


def rejects_output(rejects_path: str | None, output: OutputSpec) -> FileOutput:
    """Where skipped rows go: `--rejects-path`, else `<output>.rejects.csv` beside a file output."""
    if rejects_path:
        spec = parse_output(rejects_path, Config())
        if not isinstance(spec, FileOutput):
            raise MmpError("--rejects-path must be a file", "e.g. --rejects-path rejects.csv")
        return spec
    if isinstance(output, FileOutput):
        stem = output.path.name.split(".")[0]
        return FileOutput(output.path.with_name(f"{stem}.rejects.csv"), "csv")
    raise MmpError(
        "--on-error skip with a SQL output needs --rejects-path", "e.g. --rejects-path rejects.csv"
    )


def _table_name(name: str) -> str:
    if not _IDENTIFIER.match(name):
        raise MmpError(
            f"invalid table name {name!r}",
            "use letters, digits and underscores, optionally schema.table (e.g. sql://scores.daily)",
        )
    return name
