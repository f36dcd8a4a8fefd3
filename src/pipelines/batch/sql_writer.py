"""Write scored rows to a SQL table that readers see whole or not at all.

Rows go to a staging table inside one transaction; on success the target is replaced by (or
appended from) the staging table and the transaction commits. Readers of the old table are
blocked only for the swap, not for the whole job. Anything that stops the job before the commit —
an error, Ctrl-C, SIGTERM, `kill -9`, a lost connection — rolls the transaction back, so neither a
partial target nor a leftover staging table remains. This relies on transactional DDL, which
PostgreSQL and SQLite have; on databases without it (MySQL) a failed job can leave the staging
table behind.
"""

from __future__ import annotations

import contextlib
import secrets
from typing import TYPE_CHECKING, Any

from mmp.core.errors import MmpError
from mmp.core.sql import create_engine, sql_error
from mmp.pipelines.batch.locations import SqlOutput
from mmp.recipe.config import SqlSettings

if TYPE_CHECKING:
    import pyarrow as pa

MAX_IDENTIFIER = 63  # PostgreSQL's limit; SQLite has none


def connect(uri_env: str) -> Any:
    """An engine for the URI in `uri_env`; SQLite gets real transactions around DDL too."""
    return create_engine(SqlSettings(uri_env=uri_env).uri(), transactional_ddl=True)


def _split(name: str) -> tuple[str | None, str]:
    schema, _, table = name.rpartition(".")
    return (schema or None), table


def table_exists(spec: SqlOutput) -> bool:
    import sqlalchemy as sa

    engine = connect(spec.uri_env)
    schema, table = _split(spec.table)
    try:
        with engine.connect() as conn:
            return sa.inspect(conn).has_table(table, schema=schema)
    except sa.exc.SQLAlchemyError as exc:
        raise _error(exc) from None
    finally:
        engine.dispose()


def refuse_to_overwrite(spec: SqlOutput, force: bool) -> None:
    if spec.if_exists == "fail" and not force and table_exists(spec):
        raise MmpError(
            f"the table {spec.table} already exists",
            "pass --force to replace it, or set batch.output.if_exists to append or replace",
        )


def _column_type(arrow: pa.DataType) -> Any:
    import pyarrow as pa
    import sqlalchemy as sa

    if pa.types.is_boolean(arrow):
        return sa.Boolean()
    if pa.types.is_integer(arrow):
        return sa.BigInteger()
    if pa.types.is_floating(arrow):
        return sa.Double()
    if pa.types.is_timestamp(arrow):
        return sa.DateTime(timezone=arrow.tz is not None)
    return sa.Text()


class SqlWriter:
    """Stage rows in one transaction; `commit()` swaps them in, `abort()` rolls everything back."""

    def __init__(self, spec: SqlOutput, schema: pa.Schema, force: bool = False) -> None:
        import sqlalchemy as sa

        self.spec = spec
        self.mode = "replace" if force and spec.if_exists == "fail" else spec.if_exists
        self.schema_name, self.target = _split(spec.table)
        staging = f"mmp_staging_{secrets.token_hex(4)}_{self.target}"[:MAX_IDENTIFIER]
        self.engine = connect(spec.uri_env)
        self.staging = sa.Table(
            staging,
            sa.MetaData(),
            *(sa.Column(f.name, _column_type(f.type)) for f in schema),
            schema=self.schema_name,
        )
        try:
            self.conn = self.engine.connect()
            self.transaction = self.conn.begin()
            self.staging.create(self.conn)
        except sa.exc.SQLAlchemyError as exc:
            self.abort()
            raise _error(exc) from None

    def write(self, table: pa.Table) -> None:
        import sqlalchemy as sa

        if not table.num_rows:
            return
        try:
            self.conn.execute(self.staging.insert(), table.to_pylist())
        except sa.exc.SQLAlchemyError as exc:
            raise _error(exc) from None

    def commit(self) -> None:
        import sqlalchemy as sa

        quote = self.engine.dialect.identifier_preparer.quote
        target = sa.Table(self.target, sa.MetaData(), schema=self.schema_name)
        target_sql = (
            f"{quote(self.schema_name)}.{quote(self.target)}" if self.schema_name else quote(self.target)
        )
        try:
            exists = sa.inspect(self.conn).has_table(self.target, schema=self.schema_name)
            if exists and self.mode == "fail":
                raise MmpError(f"the table {self.spec.table} already exists", "pass --force to replace it")
            if exists and self.mode == "append":
                names = ", ".join(quote(c.name) for c in self.staging.columns)
                self.conn.exec_driver_sql(
                    f"INSERT INTO {target_sql} ({names}) SELECT {names} FROM "
                    f"{self._qualified(self.staging.name)}"
                )
                self.staging.drop(self.conn)
            else:
                if exists:
                    target.drop(self.conn)
                self.conn.exec_driver_sql(
                    f"ALTER TABLE {self._qualified(self.staging.name)} RENAME TO {quote(self.target)}"
                )
            self.transaction.commit()
        except sa.exc.SQLAlchemyError as exc:
            self.abort()
            raise _error(exc) from None
        except BaseException:
            self.abort()
            raise
        self._close()

    def _qualified(self, name: str) -> str:
        quote = self.engine.dialect.identifier_preparer.quote
        return f"{quote(self.schema_name)}.{quote(name)}" if self.schema_name else quote(name)

    def abort(self) -> None:
        transaction = getattr(self, "transaction", None)
        if transaction is not None and transaction.is_active:
            with contextlib.suppress(Exception):
                transaction.rollback()
        self._close()

    def _close(self) -> None:
        conn = getattr(self, "conn", None)
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()
        self.engine.dispose()


def _error(exc: Exception) -> MmpError:
    return sql_error(exc, "writing the SQL output failed", "check the table name and the connection")
