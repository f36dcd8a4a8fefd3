"""`mmp promote` and `mmp rollback` as functions: judge, then move an alias on the record.

Promotion re-scores the candidate and the alias's current version on the same rows, applies the
policy (`mmp.lifecycle.decision.decide`), and moves the alias only if every rule holds. The move
happens under a registry-wide lock, after re-reading the alias: if it changed since the
comparison, the promotion is refused (two racing promotions cannot both win). Every outcome that
is not a dry run — promotion, forced promotion, refusal, rollback — is one ledger record.
"""

from __future__ import annotations

import getpass
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mmp.core.errors import MmpError
from mmp.core.progress import NullProgress, Progress
from mmp.lifecycle import ledger
from mmp.lifecycle.decision import Decision, decide
from mmp.lifecycle.evaluate import Evaluation, EvaluationJob, EvaluationRun, contract_difference, evaluate
from mmp.lifecycle.models import (
    AliasLock,
    alias_version,
    move_alias,
    registry_uri,
    remove_alias,
    require_version,
)
from mmp.recipe.promotion import PromotionPolicy

if TYPE_CHECKING:
    from mmp.recipe.config import Config

# Exit code of `mmp promote`/`mmp retrain` when the challenger was evaluated and not promoted
# (0: promoted, 1: an error, 2: a usage error). Schedulers branch on it.
NOT_PROMOTED = 3


@dataclass(frozen=True)
class PromoteRequest:
    """Promote `name` version `version` to `alias`, judged on `data_path`."""

    name: str
    version: str
    alias: str = "champion"
    data_path: str | None = None
    dry_run: bool = False
    force: bool = False
    reason: str | None = None
    actor: str | None = None
    segment_by: str | None = None
    chunk_rows: int | None = None
    data_label: str | None = None  # how the ledger names the data (default: its path or query)


@dataclass
class PromoteResult:
    """What happened: promoted or not, the decision, and the ledger record (None for a dry run)."""

    name: str
    alias: str
    version: str
    previous: str | None
    promoted: bool
    dry_run: bool
    forced: bool
    decision: Decision | None
    evaluation: EvaluationRun | None
    entry: ledger.LedgerEntry | None
    metrics: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return (
            0 if self.promoted or (self.dry_run and self.decision and self.decision.promote) else NOT_PROMOTED
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "alias": self.alias,
            "version": self.version,
            "previous": self.previous,
            "promoted": self.promoted,
            "dry_run": self.dry_run,
            "forced": self.forced,
            "decision": self.decision.to_dict() if self.decision else None,
            "evaluation": self.evaluation.to_dict() if self.evaluation else None,
            "ledger_id": self.entry.id if self.entry else None,
            "exit_code": self.exit_code,
        }


def who(actor: str | None) -> tuple[str, str]:
    """(actor, host): `--actor` (a scheduler's name) or the OS user, and this machine's name."""
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in some containers
        user = "unknown"
    return actor or user, socket.gethostname()


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def policy_for(
    client: Any, name: str, version: str, recipe_policy: PromotionPolicy | None
) -> tuple[PromotionPolicy, str]:
    """The policy (from the given recipe, else the recipe the version was trained from) and its metric."""
    import tempfile
    from pathlib import Path

    import yaml

    from mmp.core.metrics import canonical_metric, default_metrics

    raw: dict[str, Any] = {}
    try:
        mv = client.get_model_version(name, version)
        if mv.run_id:
            with tempfile.TemporaryDirectory() as tmp:
                local = client.download_artifacts(mv.run_id, "recipe.yaml", tmp)
                raw = yaml.safe_load(Path(local).read_text(encoding="utf-8")) or {}
    except Exception:  # noqa: BLE001 - a model not trained by mmp train: defaults apply
        raw = {}
    if recipe_policy is not None:
        policy = recipe_policy
    else:
        try:
            policy = PromotionPolicy.model_validate(raw.get("promotion") or {})
        except Exception as exc:  # noqa: BLE001
            raise MmpError(
                f"the promotion policy in the recipe of {name} v{version} is invalid: {exc}",
                "pass --recipe-path with a valid promotion block",
            ) from None
    task = raw.get("task") or "classification"
    first = ((raw.get("evaluation") or {}).get("metrics") or default_metrics(task))[0]
    return policy, policy.resolved_metric(canonical_metric(first))


def _metrics_to_score(policy: PromotionPolicy, metric: str, task: str) -> list[str]:
    from mmp.core.metrics import default_metrics
    from mmp.recipe.promotion import STREAMING_METRICS

    names = [metric, *(g.metric for g in policy.guardrails)]
    names += [m for m in default_metrics(task) if m in STREAMING_METRICS]
    return list(dict.fromkeys(names))


def _side(evaluation: Evaluation | None) -> dict[str, Any]:
    if evaluation is None:
        return {}
    return {m: {"value": v.value, "low": v.low, "high": v.high} for m, v in evaluation.metrics.items()}


def promote(
    request: PromoteRequest,
    config: Config,
    policy: PromotionPolicy | None = None,
    progress: Progress | None = None,
) -> PromoteResult:
    """Judge `request.version` against the alias's current version and move the alias if it wins."""
    from mmp.core.model_store import load_model
    from mmp.lifecycle.sql_mirror import SqlMirror

    progress = progress or NullProgress()
    store = config.mlflow.store()
    client = store.client()
    name, version, alias = request.name, str(request.version), request.alias
    require_version(client, name, version)
    if request.force and not (request.reason and request.reason.strip()):
        raise MmpError("--force needs --reason", 'e.g. --reason "hotfix for the holiday calendar"')
    mirror = SqlMirror.from_environment()
    current = alias_version(client, name, alias)
    if current == version:
        raise MmpError(f"{name}@{alias} already points to version {version}", "nothing to promote")
    the_policy, metric = policy_for(client, name, version, policy)
    decision = None
    run = None
    differing: list[str] = []
    if request.data_path is None and not request.force:
        raise MmpError(
            "mmp promote needs evaluation data to judge the version",
            "pass --data-path (labelled rows, ideally recent), or --force --reason to skip the gate",
        )
    if request.data_path is not None:
        with progress.step("Loading models"):
            challenger = load_model(registry_uri(name, version), store)
            champion = load_model(registry_uri(name, current), store) if current else None
        differing = contract_difference(champion, challenger) if champion is not None else []
        if differing and not request.force:
            raise MmpError(
                f"{name} v{version} has a different feature contract from {alias} v{current}: "
                f"{', '.join(differing)}",
                "a version with other columns cannot be compared on the same rows; "
                "use --force --reason if the change is intended",
            )
    if request.data_path is not None and not differing:
        segment_by = request.segment_by or (the_policy.segments.column if the_policy.segments else None)
        loaded = [challenger] + ([champion] if champion is not None else [])
        job = EvaluationJob(
            model_uris=[m.identity.model_uri for m in loaded],
            data_path=request.data_path,
            metrics=_metrics_to_score(the_policy, metric, challenger.contract.task),
            segment_by=segment_by,
            min_segment_rows=the_policy.segments.min_rows if the_policy.segments else 200,
            bootstrap_samples=the_policy.bootstrap_samples,
            confidence=the_policy.confidence,
            chunk_rows=request.chunk_rows,
        )
        run = evaluate(job, config, progress, loaded=loaded)
        new = run.evaluations[0]
        old = run.evaluations[1] if champion is not None else None
        decision = decide(old, new, the_policy, metric)
    result = PromoteResult(
        name, alias, version, current, False, request.dry_run, request.force, decision, run, None
    )
    if request.dry_run:
        return result
    actor, host = who(request.actor)
    action: ledger.Action = "force" if request.force else "promote"
    passes = request.force or (decision is not None and decision.promote)
    entry = ledger.LedgerEntry(
        model=name,
        alias=alias,
        action=action if passes else "refused",
        from_version=current,
        to_version=version,
        moved=passes,
        decision=("forced: gate skipped" if request.force else decision.summary if decision else ""),
        at=now(),
        actor=actor,
        host=host,
        reason=request.reason,
        metric=metric,
        rules=[r.__dict__ for r in decision.rules] if decision else [],
        champion=_side(run.evaluations[1] if run and current else None),
        challenger=_side(run.evaluations[0] if run else None),
        gains={k: g.__dict__ for k, g in decision.gains.items()} if decision else {},
        data=({**run.data, "input": request.data_label or run.data["input"]} if run else {}),
    )
    if not passes:
        result.entry = ledger.append(client, entry, mirror=mirror)
        return result
    result.entry = _move(client, entry, current, mirror)
    result.promoted = True
    return result


def _move(client: Any, entry: ledger.LedgerEntry, expected: str | None, mirror: Any) -> ledger.LedgerEntry:
    """Move the alias under the lock if it still points where it did; record the move (or refusal)."""
    lock = AliasLock(client, entry.model, entry.alias)
    lock.acquire()
    try:
        now_at = alias_version(client, entry.model, entry.alias)
        if now_at != expected:
            rolling_back = entry.action == "rollback"
            what, when = ("rollback", "prepared") if rolling_back else ("promotion", "evaluated")
            entry.action, entry.moved = "refused", False
            entry.decision = (
                f"refused: {entry.model}@{entry.alias} moved from {expected or 'nothing'} to {now_at} "
                f"while this {what} was being {when}"
            )
            ledger.append(client, entry, mirror=mirror)
            raise MmpError(entry.decision, f"re-run the {what} against the new holder of the alias")

        def move() -> None:
            move_alias(client, entry.model, entry.alias, entry.to_version)

        def undo() -> None:
            if expected is None:
                remove_alias(client, entry.model, entry.alias)
            else:
                move_alias(client, entry.model, entry.alias, expected)

        return ledger.append(client, entry, move=move, undo=undo, mirror=mirror)
    finally:
        lock.release()


@dataclass(frozen=True)
class RollbackRequest:
    name: str
    alias: str = "champion"
    to_version: str | None = None
    reason: str | None = None
    actor: str | None = None


def rollback(request: RollbackRequest, config: Config) -> ledger.LedgerEntry:
    """Point the alias back at the version it had before its last move (or at `to_version`)."""
    from mmp.lifecycle.sql_mirror import SqlMirror

    client = config.mlflow.store().client()
    name, alias = request.name, request.alias
    current = alias_version(client, name, alias)
    target = request.to_version
    if target is None:
        last = ledger.last_move(client, name, alias)
        if last is None:
            raise MmpError(f"the ledger has no move of {name}@{alias} to roll back", "pass --to-version V")
        if last.to_version != current:
            raise MmpError(
                f"{name}@{alias} points to version {current}, but its last recorded move set "
                f"version {last.to_version} (moved outside mmp?)",
                "pass --to-version V to choose the version",
            )
        if not last.from_version:
            raise MmpError(
                f"version {current} was the first version of {name}@{alias}: there is no previous one",
                "pass --to-version V",
            )
        target = last.from_version
    require_version(client, name, str(target))
    if str(target) == current:
        raise MmpError(f"{name}@{alias} already points to version {target}")
    actor, host = who(request.actor)
    entry = ledger.LedgerEntry(
        model=name,
        alias=alias,
        action="rollback",
        from_version=current,
        to_version=str(target),
        moved=True,
        decision=f"rollback to version {target}",
        at=now(),
        actor=actor,
        host=host,
        reason=request.reason,
    )
    return _move(client, entry, current, SqlMirror.from_environment())
