"""`mmp evaluate`, `promote`, `rollback`, `history`, `retrain`: thin adapters over `mmp.lifecycle`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from mmp.cli.options import ConfigPath, JsonOutput, ModelUri, RecipePath, RunId

if TYPE_CHECKING:
    from mmp.lifecycle.evaluate import EvaluationRun
    from mmp.lifecycle.promote import PromoteResult

EvalData = typer.Option(
    ...,
    "--data-path",
    "-d",
    envvar="MMP_DATA_PATH",
    help="Labelled data: a .parquet/.csv/.tsv/.jsonl file, a folder or glob of them, or a .sql query.",
    show_default=False,
)
Alias = typer.Option("champion", "--alias", "-a", help="The registry alias to move.")
Actor = typer.Option(
    None,
    "--actor",
    envvar="MMP_ACTOR",
    help="Who acts, for the ledger (default: the OS user).",
    show_default=False,
)
SegmentBy = typer.Option(
    None,
    "--segment-by",
    help="Also report metrics per value of this column (e.g. store_id).",
    show_default=False,
)


def _fmt(value: float | None) -> str:
    if value is None or value != value:
        return "-"
    return f"{value:.4g}"


def evaluate(
    run_id: str | None = RunId,
    model_uri: str | None = ModelUri,
    data_path: str = EvalData,
    config_path: Path | None = ConfigPath,
    metric: list[str] | None = typer.Option(
        None, "--metric", help="A metric to compute (repeatable). Default: the task's usual metrics."
    ),
    segment_by: str | None = SegmentBy,
    min_segment_rows: int = typer.Option(
        200, "--min-segment-rows", min=1, help="Segments with fewer rows are pooled as 'other'."
    ),
    bootstrap: int = typer.Option(200, "--bootstrap", min=20, max=2000, help="Bootstrap replicates."),
    confidence: float = typer.Option(0.95, "--confidence", min=0.5, max=0.999, help="Interval level."),
    chunk_rows: int | None = typer.Option(None, "--chunk-rows", min=1, help="Rows per chunk (memory use)."),
    log: bool = typer.Option(
        False, "--log", help="Record the evaluation as an MLflow run linked to the model (version)."
    ),
    json_output: bool = JsonOutput,
) -> None:
    """Score a model on labelled data: each metric with a bootstrap interval, per segment if asked."""
    from mmp.cli.console import RichProgress, print_json
    from mmp.core.model_ref import ModelRef
    from mmp.lifecycle.evaluate import EvaluationJob
    from mmp.lifecycle.evaluate import evaluate as run_evaluation
    from mmp.lifecycle.tracking import log_evaluation
    from mmp.recipe.loader import load_config

    config = load_config(config_path).model
    job = EvaluationJob(
        model_uris=[ModelRef.from_options(run_id, model_uri).uri],
        data_path=data_path,
        metrics=metric or None,
        segment_by=segment_by,
        min_segment_rows=min_segment_rows,
        bootstrap_samples=bootstrap,
        confidence=confidence,
        chunk_rows=chunk_rows,
    )
    result = run_evaluation(job, config, progress=RichProgress(quiet=json_output))
    if log:
        result.log_run_ids = [log_evaluation(config, result, e) for e in result.evaluations]
    if json_output:
        print_json(result.to_dict())
        return
    _print_evaluation(result)


def _print_evaluation(result: EvaluationRun) -> None:
    from mmp.cli.console import print_grid, print_table

    evaluation = result.evaluations[0]
    model = evaluation.model
    version = f" v{model['version']}" if model.get("version") else ""
    level = f"{evaluation.confidence:.0%}"
    rows = [
        [name, _fmt(v.value), f"[{_fmt(v.low)}, {_fmt(v.high)}]"] for name, v in evaluation.metrics.items()
    ]
    print_grid(
        f"{model['name']}{version} on {result.data['input']}", ["metric", "value", f"{level} interval"], rows
    )
    if evaluation.segments:
        names = list(evaluation.metrics)
        print_grid(
            f"By {evaluation.segment_by}",
            [str(evaluation.segment_by), "rows", *names],
            [[s.value, f"{s.rows:,}", *(_fmt(s.metrics[n]) for n in names)] for s in evaluation.segments],
        )
    info = [
        ("rows read", f"{result.rows_read:,}"),
        ("rows evaluated", f"{result.rows_scored:,}"),
        ("rows rejected", f"{result.rows_rejected:,}"),
    ]
    info += [(f"reject (row {e['row']})", f"{e['column']}: {e['reason']}") for e in result.reject_examples]
    info.append(("time", f"{result.duration_s:.1f}s, {result.rows_per_s:,.0f} rows/s"))
    if result.log_run_ids:
        info.append(("MLflow run", ", ".join(result.log_run_ids)))
    print_table("Evaluation", info)


def promote(
    name: str = typer.Argument(..., help="Registered model name."),
    version: str = typer.Option(..., "--version", "-v", help="The version to promote.", show_default=False),
    alias: str = Alias,
    data_path: str | None = typer.Option(
        None,
        "--data-path",
        "-d",
        envvar="MMP_DATA_PATH",
        help="Labelled data both versions are scored on (required unless --force).",
        show_default=False,
    ),
    config_path: Path | None = ConfigPath,
    recipe_path: Path | None = typer.Option(
        None,
        "--recipe-path",
        "-r",
        help="Take the promotion policy from this recipe (default: the recipe the version was trained with).",
        show_default=False,
    ),
    segment_by: str | None = SegmentBy,
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the decision; move nothing, record nothing."),
    force: bool = typer.Option(False, "--force", help="Skip the gate (needs --reason); recorded as forced."),
    reason: str | None = typer.Option(None, "--reason", help="Why, for the ledger.", show_default=False),
    actor: str | None = Actor,
    json_output: bool = JsonOutput,
) -> None:
    """Judge a version against the alias's current version on the same rows; move the alias if it wins.

    Exit codes: 0 promoted (or, with --dry-run, would be), 3 evaluated and not promoted, 1 error.
    """
    from mmp.cli.console import RichProgress, print_json
    from mmp.lifecycle.promote import PromoteRequest
    from mmp.lifecycle.promote import promote as run_promotion
    from mmp.recipe.loader import load_config, load_recipe

    config = load_config(config_path).model
    policy = load_recipe(recipe_path).model.promotion if recipe_path else None
    request = PromoteRequest(
        name=name,
        version=version,
        alias=alias,
        data_path=data_path,
        dry_run=dry_run,
        force=force,
        reason=reason,
        actor=actor,
        segment_by=segment_by,
    )
    result = run_promotion(request, config, policy, progress=RichProgress(quiet=json_output))
    if json_output:
        print_json(result.to_dict())
    else:
        print_promotion(result)
    _exit(result.exit_code)


def _exit(code: int) -> None:
    if code:
        sys.stdout.flush()
        raise typer.Exit(code)


def print_promotion(result: PromoteResult) -> None:
    """The side-by-side table, the rules, and one line saying what happened."""
    from mmp.cli.console import print_grid, stdout_console

    decision, run = result.decision, result.evaluation
    previous = f"v{result.previous}" if result.previous else "(none)"
    if run is not None:
        new = run.evaluations[0]
        old = run.evaluations[1] if len(run.evaluations) > 1 else None
        level = f"{new.confidence:.0%}"
        gains = decision.gains if decision else {}
        rows = []
        for metric, value in new.metrics.items():
            before = old.metrics[metric] if old else None
            gain = gains.get(metric)
            rows.append(
                [
                    metric + (" *" if decision and metric == decision.metric else ""),
                    f"{_fmt(before.value)} [{_fmt(before.low)}, {_fmt(before.high)}]" if before else "-",
                    f"{_fmt(value.value)} [{_fmt(value.low)}, {_fmt(value.high)}]",
                    f"{gain.gain:+.4g} [{gain.low:+.4g}, {gain.high:+.4g}]" if gain else "",
                ]
            )
        print_grid(
            f"{result.name}@{result.alias}: {previous} vs v{result.version} on {run.rows_scored:,} rows "
            f"({run.data['input']})",
            ["metric", f"champion {previous}", f"challenger v{result.version}", f"gain ({level} paired)"],
            rows,
        )
        if old is not None and new.segments:
            metric = decision.metric if decision else next(iter(new.metrics))
            before_seg = {s.value: s for s in old.segments}
            print_grid(
                f"{metric} by {new.segment_by}",
                [str(new.segment_by), "rows", "champion", "challenger"],
                [
                    [
                        s.value,
                        f"{s.rows:,}",
                        _fmt(before_seg[s.value].metrics[metric]),
                        _fmt(s.metrics[metric]),
                    ]
                    for s in new.segments
                    if s.value in before_seg
                ],
            )
    if decision is not None:
        print_grid(
            "Policy",
            ["rule", "result", "detail"],
            [[r.rule, "pass" if r.passed else "FAIL", r.detail] for r in decision.rules],
        )
    console = stdout_console()
    target = f"{result.name}@{result.alias}"
    ledger_id = result.entry.id if result.entry else ""
    if result.dry_run:
        verdict = "would promote" if decision and decision.promote else "would not promote"
        console.print(f"Dry run: {verdict} v{result.version} to {target} (nothing moved, nothing recorded).")
    elif result.promoted:
        how = "forced" if result.forced else "promoted"
        console.print(f"[green]{how}[/]: {target} {previous} -> v{result.version} (ledger {ledger_id})")
    else:
        console.print(f"[yellow]not promoted[/]: {target} stays at {previous} (ledger {ledger_id})")


def rollback(
    name: str = typer.Argument(..., help="Registered model name."),
    alias: str = Alias,
    to_version: str | None = typer.Option(
        None, "--to-version", help="Version to point at (default: the one before the alias's last move)."
    ),
    reason: str | None = typer.Option(None, "--reason", help="Why, for the ledger.", show_default=False),
    actor: str | None = Actor,
    config_path: Path | None = ConfigPath,
    json_output: bool = JsonOutput,
) -> None:
    """Move an alias back to its previous version (from the ledger), or to --to-version; recorded."""
    from mmp.cli.console import print_json, stdout_console
    from mmp.lifecycle.promote import RollbackRequest
    from mmp.lifecycle.promote import rollback as run_rollback
    from mmp.recipe.loader import load_config

    config = load_config(config_path).model
    entry = run_rollback(RollbackRequest(name, alias, to_version, reason, actor), config)
    if json_output:
        print_json(entry.to_dict())
        return
    stdout_console().print(
        f"rolled back: {name}@{alias} v{entry.from_version} -> v{entry.to_version} (ledger {entry.id})"
    )


def history(
    name: str = typer.Argument(..., help="Registered model name."),
    alias: str | None = typer.Option(None, "--alias", "-a", help="Only this alias.", show_default=False),
    limit: int = typer.Option(50, "--limit", "-n", min=1, help="Show at most this many records."),
    config_path: Path | None = ConfigPath,
    json_output: bool = JsonOutput,
) -> None:
    """The deployment ledger of a model, newest first: who moved which alias, when, why."""
    from mmp.cli.console import print_grid, print_json
    from mmp.lifecycle.ledger import history as read_history
    from mmp.lifecycle.models import require_model
    from mmp.recipe.loader import load_config

    client = load_config(config_path).model.mlflow.store().client()
    require_model(client, name)
    entries = read_history(client, name, alias, limit)
    if json_output:
        print_json([e.to_dict() for e in entries])
        return
    rows = [
        [
            e.at[:19].replace("T", " "),
            e.alias,
            e.action,
            f"{e.from_version or '-'} -> {e.to_version}",
            "yes" if e.moved else "no",
            e.actor + "@" + e.host,
            (e.reason or "") + (" | " if e.reason else "") + e.decision,
        ]
        for e in entries
    ]
    print_grid(
        f"Deployment history of {name}",
        ["when (UTC)", "alias", "action", "versions", "moved", "who", "why"],
        rows,
    )


def retrain(
    recipe_path: Path = RecipePath,
    config_path: Path | None = ConfigPath,
    data_path: str | None = typer.Option(
        None,
        "--data-path",
        "-d",
        envvar="MMP_DATA_PATH",
        help="Training data (default: the recipe's data.source).",
    ),
    eval_data: str | None = typer.Option(
        None, "--eval-data", help="Labelled data to judge on (default: the recipe's test split)."
    ),
    promote_to: str = typer.Option("champion", "--promote", help="The alias to promote the new version to."),
    register_as: str | None = typer.Option(
        None, "--register-as", help="Registered model name (default: config's, else the recipe name)."
    ),
    segment_by: str | None = SegmentBy,
    dry_run: bool = typer.Option(False, "--dry-run", help="Train and register, judge, but move nothing."),
    actor: str | None = Actor,
    json_output: bool = JsonOutput,
) -> None:
    """Train, register and promote in one command: the weekly job.

    Exit codes: 0 promoted (or, with --dry-run, would be), 3 evaluated and not promoted, 1 error.
    """
    from mmp.cli.console import RichProgress, print_json
    from mmp.lifecycle.retrain import RetrainRequest
    from mmp.lifecycle.retrain import retrain as run_retrain
    from mmp.recipe.loader import load_config, load_recipe

    recipe = load_recipe(recipe_path)
    config = load_config(config_path)
    request = RetrainRequest(
        data_path=data_path,
        eval_data=eval_data,
        register_as=register_as,
        alias=promote_to,
        dry_run=dry_run,
        actor=actor,
        segment_by=segment_by,
    )
    result = run_retrain(request, recipe, config, progress=RichProgress(quiet=json_output))
    if json_output:
        print_json(result.to_dict())
    else:
        print_promotion(result.promotion)
    _exit(result.exit_code)


__all__: list[Any] = ["evaluate", "history", "promote", "retrain", "rollback"]
