"""SQL connections, made in one place: training's reader, batch readers and the SQL writer all open
databases through `create_engine` and report failures through `sql_error`, so a password in a URI
never reaches a message and every database behaves the same.

The URI itself comes from the environment (`mmp.recipe.config.SqlSettings.uri`), never a file.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from mmp.core.errors import MmpError, first_line
from mmp.core.yamlio import redact_url

if TYPE_CHECKING:
    import pyarrow as pa
    import sqlalchemy as sa


def create_engine(uri: str, transactional_ddl: bool = False) -> sa.engine.Engine:
    """A SQLAlchemy engine for `uri`; a malformed URI is one line without its password.

    `transactional_ddl=True` makes SQLite run CREATE/DROP/ALTER inside the transaction too, as
    PostgreSQL does, so a staged table vanishes on rollback (SQLAlchemy's documented recipe: pysqlite
    otherwise opens a transaction only before INSERT/UPDATE/DELETE).
    """
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(uri)
    except Exception as exc:  # noqa: BLE001 - bad URIs raise many types
        raise MmpError(
            f"invalid database URI {redact_url(uri)}: {redact_url(first_line(exc))}",
            "check the SQLAlchemy URI in the environment variable named by sql.uri_env",
        ) from None
    if transactional_ddl and engine.dialect.name == "sqlite":

        @sa.event.listens_for(engine, "connect")
        def _no_implicit_transactions(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None

        @sa.event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN")

    return engine


def sql_error(exc: BaseException, what: str, hint: str = "check the query and the connection") -> MmpError:
    """`what: <first line of the driver's message>`, with any URI password hidden."""
    return MmpError(f"{what}: {redact_url(first_line(exc))}", hint)


def stream_query(uri: str, query: str, chunk_rows: int, what: str = "SQL query") -> Iterator[pa.Table]:
    """Run `query` and yield its rows as Arrow tables of about `chunk_rows` rows.

    Streamed (`stream_results`: server-side cursors where the driver has them), so the database
    never sends everything at once; the connection is closed when the iterator is exhausted or
    closed. Errors are one line without the password (`sql_error`).
    """
    import sqlalchemy as sa

    engine = create_engine(uri)
    try:
        with engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=chunk_rows).execute(sa.text(query))
            names = list(result.keys())
            for rows in result.partitions(chunk_rows):
                yield rows_to_table(rows, names)
    except sa.exc.SQLAlchemyError as exc:
        raise sql_error(exc, f"{what} failed") from None
    finally:
        engine.dispose()


def rows_to_table(rows: Sequence[Any], names: list[str], positions: list[int] | None = None) -> pa.Table:
    """Database rows as an Arrow table: each column typed by pyarrow, or text when its values mix
    types (SQLite has no column types)."""
    import pyarrow as pa

    arrays = []
    for position in positions if positions is not None else range(len(names)):
        values = [row[position] for row in rows]
        try:
            arrays.append(pa.array(values))
        except (pa.ArrowException, TypeError, ValueError):
            arrays.append(pa.array([None if v is None else str(v) for v in values], pa.string()))
    return pa.table(arrays, names=names)
