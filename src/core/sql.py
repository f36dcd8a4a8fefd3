"""SQL connections, made in one place: training's reader, batch readers and the SQL writer all open
databases through `create_engine` and report failures through `sql_error`, so a password in a URI
never reaches a message and every database behaves the same.

The URI itself comes from the environment (`mmp.recipe.config.SqlSettings.uri`), never a file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mmp.core.errors import MmpError, first_line
from mmp.core.yamlio import redact_url

if TYPE_CHECKING:
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
