"""Read training data from CSV, Parquet (file or directory) or a SQL query into a DataFrame."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from mmp.core.errors import MmpError

if TYPE_CHECKING:
    import pandas as pd

_QUERY = re.compile(r"^\s*(select|with)\b", re.I)


def is_sql_source(source: str) -> bool:
    """True for a `.sql` file or an inline SELECT/WITH query."""
    return source.lower().endswith(".sql") or bool(_QUERY.match(source))


def read_query_text(source: str) -> str:
    """The SQL text of an inline query or of a `.sql` file."""
    if _QUERY.match(source):
        return source
    path = Path(source)
    if not path.is_file():
        raise MmpError(f"SQL file not found: {source}", "check --data-path or data.source")
    return path.read_text(encoding="utf-8")


class SqlConnection(Protocol):
    """Anything that yields a database URI on demand (the config's `sql` block)."""

    def uri(self) -> str: ...


def read_table(source: str, sql: SqlConnection | None) -> pd.DataFrame:
    """Load a whole data source; training needs it in memory (batch scoring streams instead)."""
    import pandas as pd

    if is_sql_source(source):
        if sql is None:
            raise MmpError(
                f"{source} is a SQL query, but no database is configured", "set sql.uri in the config"
            )
        return read_sql(read_query_text(source), sql.uri())
    path = Path(source)
    if not path.exists():
        raise MmpError(
            f"data not found: {source}",
            f"check data.source in the recipe or pass --data-path (looked in {Path.cwd()})",
        )
    suffixes = "".join(path.suffixes).lower()
    try:
        if path.is_dir() or suffixes.endswith(".parquet") or suffixes.endswith(".pq"):
            return pd.read_parquet(path)
        if suffixes.endswith((".csv", ".csv.gz", ".txt", ".tsv")):
            return pd.read_csv(path, sep="\t" if suffixes.endswith(".tsv") else ",")
    except (OSError, ValueError) as exc:
        raise MmpError(f"cannot read {source}: {exc}", "check that the file is valid") from None
    raise MmpError(
        f"unsupported data format: {source}",
        "use a .csv, .tsv or .parquet file, a Parquet directory or a .sql query",
    )


def read_sql(query: str, uri: str) -> pd.DataFrame:
    """Run a query through SQLAlchemy; errors never show the connection password."""
    import pandas as pd
    import sqlalchemy as sa

    from mmp.core.sql import create_engine, sql_error

    engine = create_engine(uri)
    try:
        with engine.connect() as conn:
            return pd.read_sql_query(sa.text(query), conn)
    except sa.exc.SQLAlchemyError as exc:
        raise sql_error(exc, "SQL query failed") from None
    finally:
        engine.dispose()
