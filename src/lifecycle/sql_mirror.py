"""Mirror the ledger into a SQL table `model_deployments`, as teams' dashboards expect.

Optional: enabled when the environment variable `MMP_DEPLOYMENTS_DATABASE_URL` holds a SQLAlchemy
URI (any database SQLAlchemy speaks; tested with SQLite and PostgreSQL). One row per ledger record.
A move marks the alias's previous `active` row `archived` and inserts the new one as `active`, in
one transaction written right after the registry alias moved (if it fails, the alias is
moved back); a refusal is inserted as
`refused`. The MLflow ledger stays the record of truth; the table is a convenience for SQL users.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from mmp.core.errors import MmpError, first_line
from mmp.core.yamlio import redact_url

if TYPE_CHECKING:
    from mmp.lifecycle.ledger import LedgerEntry

URL_ENV = "MMP_DEPLOYMENTS_DATABASE_URL"
TABLE = "model_deployments"


def _table(metadata: Any) -> Any:
    import sqlalchemy as sa

    return sa.Table(
        TABLE,
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ledger_id", sa.String(64), nullable=False, unique=True),
        sa.Column("model_name", sa.String(255), nullable=False, index=True),
        sa.Column("alias", sa.String(255), nullable=False),
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("from_version", sa.String(32)),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("metric", sa.String(64)),
        sa.Column("champion_value", sa.Float),
        sa.Column("challenger_value", sa.Float),
        sa.Column("decision", sa.Text, nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("data_input", sa.Text),
        sa.Column("data_sha256", sa.String(64)),
        sa.Column("data_rows", sa.Integer),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True)),
    )


class SqlMirror:
    """The `model_deployments` table in the database at `url` (created on first use)."""

    def __init__(self, url: str) -> None:
        import sqlalchemy as sa

        self.url = url
        try:
            self.engine = sa.create_engine(url)
        except Exception as exc:  # noqa: BLE001 - bad URL or missing driver
            raise MmpError(
                f"{URL_ENV}: cannot use {redact_url(url)}: {first_line(exc)}",
                "set it to a SQLAlchemy URI, e.g. postgresql+psycopg://user:password@host/db",
            ) from None
        self.metadata = sa.MetaData()
        self.table = _table(self.metadata)

    @classmethod
    def from_environment(cls) -> SqlMirror | None:
        url = os.environ.get(URL_ENV)
        return cls(url) if url else None

    def write(self, entry: LedgerEntry) -> None:
        """Insert `entry`'s row and archive the alias's previous active row, in one transaction."""
        import datetime as dt

        import sqlalchemy as sa

        try:
            self.metadata.create_all(self.engine, checkfirst=True)
            connection = self.engine.connect()
        except Exception as exc:  # noqa: BLE001 - every driver raises its own types
            self.engine.dispose()
            raise MmpError(
                f"cannot write the deployments table in {redact_url(self.url)}: {first_line(exc)}",
                f"check {URL_ENV}, or unset it to keep the ledger in MLflow only",
            ) from None
        transaction = connection.begin()
        try:
            at = dt.datetime.fromisoformat(entry.at)
            t = self.table
            if entry.moved:
                connection.execute(
                    sa.update(t)
                    .where(t.c.model_name == entry.model, t.c.alias == entry.alias, t.c.status == "active")
                    .values(status="archived", archived_at=at)
                )
            champion = entry.champion.get(entry.metric or "", {}) if entry.metric else {}
            challenger = entry.challenger.get(entry.metric or "", {}) if entry.metric else {}
            connection.execute(
                sa.insert(t).values(
                    ledger_id=entry.id,
                    model_name=entry.model,
                    alias=entry.alias,
                    version=entry.to_version,
                    from_version=entry.from_version,
                    action=entry.action,
                    status=entry.status,
                    metric=entry.metric,
                    champion_value=champion.get("value"),
                    challenger_value=challenger.get("value"),
                    decision=entry.decision,
                    reason=entry.reason,
                    data_input=entry.data.get("input"),
                    data_sha256=(entry.data.get("fingerprint") or {}).get("sha256"),
                    data_rows=entry.data.get("rows"),
                    actor=entry.actor,
                    host=entry.host,
                    created_at=at,
                )
            )
            transaction.commit()
        except Exception as exc:  # noqa: BLE001
            transaction.rollback()
            raise MmpError(
                f"cannot write the deployments table in {redact_url(self.url)}: {first_line(exc)}",
                f"check {URL_ENV}",
            ) from None
        finally:
            connection.close()
            self.engine.dispose()  # one write per command: hold no pooled connection afterwards

    def rows(self) -> list[dict[str, Any]]:
        """Every row, oldest first (for tests and dashboards' sanity checks)."""
        import sqlalchemy as sa

        try:
            with self.engine.connect() as connection:
                result = connection.execute(sa.select(self.table).order_by(self.table.c.id))
                return [dict(row._mapping) for row in result]
        finally:
            self.engine.dispose()
