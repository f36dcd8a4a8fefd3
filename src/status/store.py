"""History in SQLite (default) or PostgreSQL, through SQLAlchemy Core.

Several `mmp status` replicas may share one PostgreSQL database. They scrape on the same wall-clock
ticks, so a row's key is (target, slot) with slot = tick / interval, and every insert is
`INSERT ... ON CONFLICT DO NOTHING`: the first replica's row for a slot wins, the others are
dropped, and nothing is counted twice. Alerts are claimed the same way: an episode row is unique
per (rule, target, slot it fired in), and only the replica whose insert (or resolving update)
changed a row sends the webhook.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from mmp.core.errors import MmpError
from mmp.core.yamlio import redact_url

metadata = sa.MetaData()

samples = sa.Table(
    "mmp_status_samples",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("target", sa.String(64), nullable=False),
    sa.Column("model_name", sa.String(255), nullable=False),
    sa.Column("model_version", sa.String(128), nullable=False),
    sa.Column("slot", sa.BigInteger, nullable=False),
    sa.Column("ts", sa.Float, nullable=False),
    sa.Column("interval_s", sa.Float, nullable=False),
    sa.Column("requests", sa.Float, nullable=False),
    sa.Column("errors", sa.Float, nullable=False),
    sa.Column("p50_ms", sa.Float),
    sa.Column("p95_ms", sa.Float),
    sa.Column("p99_ms", sa.Float),
    sa.Column("buckets", sa.Text, nullable=False),  # JSON [[edges], [per-bucket counts]]
    sa.UniqueConstraint("target", "model_version", "slot", name="mmp_status_samples_once"),
    sa.Index("mmp_status_samples_ts", "ts"),
)

scrapes = sa.Table(
    "mmp_status_scrapes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("target", sa.String(64), nullable=False),
    sa.Column("slot", sa.BigInteger, nullable=False),
    sa.Column("ts", sa.Float, nullable=False),
    sa.Column("up", sa.Boolean, nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("model_name", sa.String(255)),
    sa.Column("model_version", sa.String(128)),
    sa.Column("reload_failures", sa.Float),
    sa.Column("memory_used", sa.Float),
    sa.Column("memory_limit", sa.Float),
    sa.UniqueConstraint("target", "slot", name="mmp_status_scrapes_once"),
    sa.Index("mmp_status_scrapes_ts", "ts"),
    sa.Index("mmp_status_scrapes_target_ts", "target", "ts"),
)

alerts = sa.Table(
    "mmp_status_alerts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("rule", sa.String(64), nullable=False),
    sa.Column("target", sa.String(64), nullable=False),
    sa.Column("fired_slot", sa.BigInteger, nullable=False),
    sa.Column("fired_at", sa.Float, nullable=False),
    sa.Column("value", sa.Float),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("resolved_at", sa.Float),
    sa.Column("resolved_value", sa.Float),
    sa.UniqueConstraint("rule", "target", "fired_slot", name="mmp_status_alerts_once"),
)


def dump_buckets(edges: Sequence[float], counts: Sequence[float]) -> str:
    return json.dumps([[None if math.isinf(e) else e for e in edges], list(counts)])


def load_buckets(text: str) -> tuple[tuple[float, ...], list[float]]:
    edges, counts = json.loads(text)
    return tuple(math.inf if e is None else float(e) for e in edges), [float(c) for c in counts]


@dataclass
class HistoryPoint:
    """One chart step of one model version: percentiles are the worst interval's (a spike stays
    visible), counts and spans are summed; `ts` is the step's newest interval."""

    target: str
    model_version: str
    ts: float
    requests: float
    errors: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    span_s: float


class Store:
    """The status service's tables. Thread-safe (one engine, short transactions)."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            self.engine = _engine(url)
            metadata.create_all(self.engine)
        except (sa.exc.SQLAlchemyError, ImportError) as exc:
            raise MmpError(
                f"cannot open the status database {redact_url(url)}: {type(exc).__name__}",
                "check the URI in the database variable (default MMP_STATUS_DATABASE_URL) and that "
                "the server is up",
            ) from None

    def close(self) -> None:
        self.engine.dispose()

    def _insert_ignore(self, table: sa.Table, rows: list[dict[str, Any]]) -> int:
        """Insert, skipping rows whose unique key exists; returns how many were new."""
        if not rows:
            return 0
        dialect = self.engine.dialect.name
        inserted = 0
        with self.engine.begin() as conn:
            if dialect in ("sqlite", "postgresql"):
                module: Any = sqlite if dialect == "sqlite" else postgresql
                for row in rows:
                    # RETURNING, not rowcount: with PostgreSQL's implicit RETURNING rowcount is not reliable
                    stmt = module.insert(table).values(**row).on_conflict_do_nothing().returning(table.c.id)
                    inserted += len(conn.execute(stmt).fetchall())
                return inserted
        for row in rows:  # other databases: one savepoint per row
            try:
                with self.engine.begin() as conn:
                    conn.execute(table.insert().values(**row))
                inserted += 1
            except sa.exc.IntegrityError:
                pass
        return inserted

    def record(self, scrape_rows: list[dict[str, Any]], sample_rows: list[dict[str, Any]]) -> int:
        """Store one tick's scrapes and intervals; returns the number of new sample rows."""
        self._insert_ignore(scrapes, scrape_rows)
        return self._insert_ignore(samples, sample_rows)

    def prune(self, before_ts: float) -> None:
        with self.engine.begin() as conn:
            for table in (samples, scrapes):
                conn.execute(table.delete().where(table.c.ts < before_ts))
            conn.execute(
                alerts.delete().where(alerts.c.resolved_at.is_not(None), alerts.c.resolved_at < before_ts)
            )

    def last_tick(self) -> float | None:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.max(scrapes.c.ts))).scalar()

    def latest_scrapes(self, since: float) -> dict[str, dict[str, Any]]:
        """The newest scrape row per target since `since`."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(scrapes).where(scrapes.c.ts >= since).order_by(scrapes.c.ts)
            ).mappings()
            return {row["target"]: dict(row) for row in rows}

    def recent_scrapes(self, target: str, limit: int) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(scrapes)
                .where(scrapes.c.target == target)
                .order_by(scrapes.c.ts.desc())
                .limit(limit)
            ).mappings()
            return [dict(r) for r in rows]

    def samples_since(self, since: float, target: str | None = None) -> list[dict[str, Any]]:
        query = sa.select(samples).where(samples.c.ts >= since).order_by(samples.c.ts)
        if target is not None:
            query = query.where(samples.c.target == target)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def last_reloads(self, since: float) -> dict[str, tuple[float, str]]:
        """Per target that served more than one version since `since`: when the current version
        (the latest scrape's) was first seen after the last scrape of any other version."""
        seen = (
            sa.select(
                scrapes.c.target,
                scrapes.c.model_version,
                sa.func.max(scrapes.c.ts).label("last"),
            )
            .where(scrapes.c.ts >= since, scrapes.c.model_version.is_not(None))
            .group_by(scrapes.c.target, scrapes.c.model_version)
        )
        found: dict[str, tuple[float, str]] = {}
        with self.engine.connect() as conn:
            versions: dict[str, list[tuple[float, str]]] = {}
            for row in conn.execute(seen):
                versions.setdefault(row.target, []).append((row.last, row.model_version))
            for target, seen_versions in versions.items():
                if len(seen_versions) < 2:
                    continue
                seen_versions.sort()
                current = seen_versions[-1][1]
                other_last = seen_versions[-2][0]
                first = conn.execute(
                    sa.select(sa.func.min(scrapes.c.ts)).where(
                        scrapes.c.target == target,
                        scrapes.c.ts > other_last,
                        scrapes.c.model_version == current,
                    )
                ).scalar()
                if first is not None:
                    found[target] = (first, current)
        return found

    def interval_rows(self, since: float) -> list[Any]:
        """Every stored interval since `since`, only the columns a history needs (no buckets).

        Read through the `ts` index and grouped by the caller: a GROUP BY here made SQLite scan the
        whole table in unique-key order even when only the newest rows were asked for."""
        c = samples.c
        query = sa.select(
            c.target, c.model_version, c.ts, c.requests, c.errors, c.p50_ms, c.p95_ms, c.p99_ms, c.interval_s
        ).where(c.ts >= since)
        with self.engine.connect() as conn:
            return list(conn.execute(query))

    def timeline(self, since: float, target: str | None, versions_only: bool = False) -> list[dict[str, Any]]:
        """Changes only: a target going down or up, or serving another version (a reload)."""
        inner = sa.select(
            scrapes.c.target,
            scrapes.c.ts,
            scrapes.c.up,
            scrapes.c.error,
            scrapes.c.model_version,
            sa.func.lag(scrapes.c.up)
            .over(partition_by=scrapes.c.target, order_by=scrapes.c.ts)
            .label("previous_up"),
            sa.func.lag(scrapes.c.model_version)
            .over(partition_by=scrapes.c.target, order_by=scrapes.c.ts)
            .label("previous_version"),
        ).where(scrapes.c.ts >= since)
        if target is not None:
            inner = inner.where(scrapes.c.target == target)
        sub = inner.subquery()
        version_changed = sa.and_(
            sub.c.up,
            sub.c.model_version.is_not(None),
            sub.c.previous_version.is_not(None),
            sub.c.model_version != sub.c.previous_version,
        )
        condition = (
            version_changed
            if versions_only
            else sa.or_(sub.c.previous_up.is_(None), sub.c.up != sub.c.previous_up, version_changed)
        )
        query = sa.select(sub).where(condition).order_by(sub.c.ts)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def known_targets(self) -> list[str]:
        with self.engine.connect() as conn:
            return sorted(conn.execute(sa.select(scrapes.c.target).distinct()).scalars())

    # alerts

    def open_alerts(self) -> dict[tuple[str, str], dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(alerts).where(alerts.c.resolved_at.is_(None))).mappings()
            return {(r["rule"], r["target"]): dict(r) for r in rows}

    def claim_firing(
        self, rule: str, target: str, slot: int, at: float, value: float | None, message: str
    ) -> bool:
        """True when this call opened the episode (and so must send the notification)."""
        row = {
            "rule": rule,
            "target": target,
            "fired_slot": slot,
            "fired_at": at,
            "value": value,
            "message": message,
        }
        return self._insert_ignore(alerts, [row]) == 1

    def claim_resolved(self, alert_id: int, at: float, value: float | None) -> bool:
        with self.engine.begin() as conn:
            result = conn.execute(
                alerts.update()
                .where(alerts.c.id == alert_id, alerts.c.resolved_at.is_(None))
                .values(resolved_at=at, resolved_value=value)
            )
            return result.rowcount == 1

    def alerts_since(self, since: float) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            query = (
                sa.select(alerts)
                .where(sa.or_(alerts.c.resolved_at.is_(None), alerts.c.fired_at >= since))
                .order_by(alerts.c.fired_at.desc())
            )
            return [dict(r) for r in conn.execute(query).mappings()]


def _engine(url: str) -> sa.Engine:
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return sa.create_engine(url, pool_pre_ping=True)
