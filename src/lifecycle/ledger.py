"""The deployment ledger: one append-only record per alias move or refusal, stored in MLflow itself.

Each record is a run of the experiment `mmp-deployments` (so it lives wherever the registry lives
and shows in the MLflow UI), with the record's fields as `mmp.ledger.*` tags, the metrics of both
versions as run metrics, and the whole record as `ledger_entry.json`. Versions get a
`mmp.deployment.<alias>` tag saying when they became active or were archived. A record becomes
visible (status FINISHED) only once complete: a failure on the way deletes the run, so history
never shows a half-written move. Optionally, every record is mirrored into a SQL table
(`mmp.lifecycle.sql_mirror`) in the same step as the alias move.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from mmp.core.errors import MmpError

LEDGER_EXPERIMENT = "mmp-deployments"
TAG = "mmp.ledger."
Action = Literal["promote", "force", "rollback", "refused"]


@dataclass
class LedgerEntry:
    """Who moved which alias of which model from which version to which, when, why, on what evidence."""

    model: str
    alias: str
    action: Action
    from_version: str | None
    to_version: str
    moved: bool
    decision: str
    at: str
    actor: str
    host: str
    reason: str | None = None
    metric: str | None = None
    rules: list[dict[str, Any]] = field(default_factory=list)
    champion: dict[str, Any] = field(default_factory=dict)  # metric -> {value, low, high}
    challenger: dict[str, Any] = field(default_factory=dict)
    gains: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)  # input, fingerprint, rows, time_range
    id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def status(self) -> str:
        return "refused" if not self.moved else "active"


def _experiment_id(client: Any) -> str:
    found = client.get_experiment_by_name(LEDGER_EXPERIMENT)
    if found is not None:
        return str(found.experiment_id)
    try:
        return str(client.create_experiment(LEDGER_EXPERIMENT, tags={"mmp.kind": "deployment-ledger"}))
    except Exception:  # created by a concurrent promotion meanwhile
        again = client.get_experiment_by_name(LEDGER_EXPERIMENT)
        if again is None:
            raise
        return str(again.experiment_id)


def _tags(entry: LedgerEntry) -> dict[str, str]:
    compact = {k: v for k, v in entry.to_dict().items() if k not in ("id",)}
    record = json.dumps(compact, default=str, separators=(",", ":"))
    tags = {
        "mmp.kind": "deployment",
        f"{TAG}model": entry.model,
        f"{TAG}alias": entry.alias,
        f"{TAG}action": entry.action,
        f"{TAG}from_version": entry.from_version or "",
        f"{TAG}to_version": entry.to_version,
        f"{TAG}moved": str(entry.moved).lower(),
        f"{TAG}at": entry.at,
        f"{TAG}actor": entry.actor,
        f"{TAG}host": entry.host,
        f"{TAG}reason": (entry.reason or "")[:4000],
        f"{TAG}decision": entry.decision[:4000],
    }
    if len(record) <= 7500:
        tags[f"{TAG}record"] = record
    return tags


def append(
    client: Any,
    entry: LedgerEntry,
    move: Callable[[], None] | None = None,
    undo: Callable[[], None] | None = None,
    mirror: Any = None,
) -> LedgerEntry:
    """Record `entry`; when `move` is given, run it (the alias move) inside the same all-or-nothing step.

    Order: open the run (invisible while RUNNING) -> move the alias -> write the SQL mirror row ->
    finish the run. If the mirror write fails, `undo` puts the alias back; any failure deletes the
    run, so the ledger never shows a move that did not happen (or hides one that did).
    """
    import contextlib

    from mmp.lifecycle.tracking import log_metrics

    experiment_id = _experiment_id(client)
    name = f"{entry.model}@{entry.alias} {entry.from_version or '-'} -> {entry.to_version} ({entry.action})"
    run = client.create_run(experiment_id, run_name=name, tags=_tags(entry))
    entry.id = run.info.run_id
    done = False
    try:
        log_metrics(client, entry.id, _metrics(entry))
        client.log_text(entry.id, json.dumps(entry.to_dict(), indent=2, default=str), "ledger_entry.json")
        if move is not None:
            move()
        if mirror is not None:
            try:
                mirror.write(entry)
            except BaseException:
                if move is not None and undo is not None:
                    undo()
                raise
        client.set_terminated(entry.id, "FINISHED")
        done = True
    finally:
        if not done:
            with contextlib.suppress(Exception):
                client.delete_run(entry.id)
    if entry.moved:
        _tag_versions(client, entry)
    return entry


def _metrics(entry: LedgerEntry) -> dict[str, float]:
    out = {}
    for side in ("champion", "challenger"):
        for metric, value in getattr(entry, side).items():
            for part in ("value", "low", "high"):
                number = value.get(part) if isinstance(value, dict) else None
                if isinstance(number, int | float) and number == number:
                    out[f"{side}.{metric}" + ("" if part == "value" else f".{part}")] = float(number)
    return out


def _tag_versions(client: Any, entry: LedgerEntry) -> None:
    import contextlib

    from mmp.lifecycle.models import tag_version

    key = f"mmp.deployment.{entry.alias}"
    with contextlib.suppress(Exception):  # tags are a convenience view; the ledger run is the record
        tag_version(
            client,
            entry.model,
            entry.to_version,
            key,
            f"active since {entry.at} ({entry.action}, {entry.id})",
        )
        if entry.from_version and entry.from_version != entry.to_version:
            tag_version(client, entry.model, entry.from_version, key, f"archived {entry.at} ({entry.id})")


def history(client: Any, model: str, alias: str | None = None, limit: int = 1000) -> list[LedgerEntry]:
    """The model's ledger, newest first (only complete records)."""
    found = client.get_experiment_by_name(LEDGER_EXPERIMENT)
    if found is None:
        return []
    query = f"tags.`{TAG}model` = '{_quote(model)}' and attributes.status = 'FINISHED'"
    if alias:
        query += f" and tags.`{TAG}alias` = '{_quote(alias)}'"
    runs = client.search_runs(
        [found.experiment_id], filter_string=query, max_results=limit, order_by=["attributes.start_time DESC"]
    )
    entries = [_entry(client, run) for run in runs]
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries


def _quote(text: str) -> str:
    if "'" in text:
        raise MmpError(f"names with quotes are not supported: {text}")
    return text


def _entry(client: Any, run: Any) -> LedgerEntry:
    tags = run.data.tags
    record = tags.get(f"{TAG}record")
    data = json.loads(record) if record else json.loads(_read(client, run))
    data.pop("id", None)
    return LedgerEntry(**data, id=run.info.run_id)


def _read(client: Any, run: Any) -> str:
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = client.download_artifacts(run.info.run_id, "ledger_entry.json", tmp)
        return Path(path).read_text(encoding="utf-8")


def last_move(client: Any, model: str, alias: str) -> LedgerEntry | None:
    """The newest record that actually moved `model@alias`."""
    for entry in history(client, model, alias):
        if entry.moved:
            return entry
    return None
