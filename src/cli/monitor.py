"""`mmp monitor`: parse options, call `mmp.monitoring.run.run_monitor`, print the outcome, exit 0 or 3."""

from __future__ import annotations

from pathlib import Path

import typer

from mmp.cli.options import ConfigPath, Engine, JsonOutput, ModelUri, RunId

ALERT_EXIT = 3  # mmp.monitoring.monitor.ALERT_EXIT_CODE (kept literal: no heavy import at startup)


def monitor(
    run_id: str | None = RunId,
    model_uri: str | None = ModelUri,
    data: str = typer.Option(
        ...,
        "--data",
        "-d",
        help="What to monitor: a prediction log folder, any .parquet/.csv file, folder or glob with the "
        "model's input columns (e.g. batch-inference output), or SQL: sql://TABLE (e.g. the server's "
        "prediction_logs table), a .sql file or a SELECT query. SQL connects to the URI in the "
        "environment variable the config's sql.uri_env names (default MMP_DATABASE_URL).",
        show_default=False,
    ),
    labels: str | None = typer.Option(
        None,
        "--labels",
        help="Ground truth to score predictions with: a labels log folder, a labelled file, or SQL "
        "(sql://TABLE, .sql file, query). Rows hold request_id + label, or the model's entity columns "
        "(+ timestamp) + label (or the target column). Realized metrics per window are the task's "
        "default metrics, named as mmp evaluate names them.",
        show_default=False,
    ),
    reference: str | None = typer.Option(
        None,
        "--reference",
        help="Compute the reference profile from this data (models trained before mmp wrote one).",
        show_default=False,
    ),
    reference_profile: Path | None = typer.Option(
        None, "--reference-profile", help="A reference_profile.json to compare against.", show_default=False
    ),
    save_profile: Path | None = typer.Option(
        None, "--save-profile", help="Also write the reference profile used to this file.", show_default=False
    ),
    recipe_path: Path | None = typer.Option(
        None,
        "--recipe-path",
        "-r",
        help="Take the `monitoring` block (thresholds, alert rules) from this recipe instead of the profile.",
        show_default=False,
    ),
    window: str | None = typer.Option(
        None, "--window", help="Window length: 30m, 6h, 1d (default), 1w. Needs a time column."
    ),
    since: str | None = typer.Option(None, "--since", help="Only rows from this long ago (30d) or date."),
    until: str | None = typer.Option(None, "--until", help="Only rows before this long ago or date."),
    time_column: str | None = typer.Option(
        None,
        "--time-column",
        help="Time column. Default: served_at (prediction logs), else the model's timestamp column; "
        "without one, all rows are one window.",
    ),
    report: Path | None = typer.Option(
        None, "--report", help="Write the self-contained HTML report here.", show_default=False
    ),
    output_json: Path | None = typer.Option(
        None, "--output-json", help="Write the JSON document here.", show_default=False
    ),
    log: bool = typer.Option(
        False,
        "--log",
        help="Record each window's scores (rows, drift share, PSI and distance per column, realized "
        "and estimated metrics) as metrics of one MLflow run, step = window, tagged with the model "
        "version (which gets mmp.monitor.last_run/last_status tags).",
    ),
    engine: Engine = typer.Option(
        Engine.local, "--engine", help="local (streaming, this machine) or spark (needs the spark extra)."
    ),
    spark_master: str = typer.Option(
        "local[*]", "--spark-master", help="Spark master URL for --engine spark."
    ),
    workers: int | None = typer.Option(
        None,
        "--workers",
        "-w",
        min=1,
        help="Threads reading and counting the data (local engine). Default: one per core.",
        show_default=False,
    ),
    config_path: Path | None = ConfigPath,
    json_output: bool = JsonOutput,
) -> None:
    """Drift, data quality and performance of a served model, per time window.

    Exit code 0: no alert; 3: an alert rule fired (see docs/monitoring.md); 1: an error.
    """
    from mmp.cli.console import RichProgress, print_json, print_table
    from mmp.core.model_ref import ModelRef
    from mmp.monitoring.run import MonitorJob, run_monitor, write_profile
    from mmp.recipe.loader import load_config, load_recipe

    config = load_config(config_path).model
    uri = ModelRef.from_options(run_id, model_uri).uri if (run_id or model_uri) else None
    job = MonitorJob(
        data=data,
        model_uri=uri,
        reference_profile=str(reference_profile) if reference_profile else None,
        reference_data=reference,
        labels=labels,
        window=window,
        since=since,
        until=until,
        time_column=time_column,
        engine=engine.value,
        spark_master=spark_master,
        json_path=str(output_json) if output_json else None,
        report_path=str(report) if report else None,
        settings=load_recipe(recipe_path).model.monitoring if recipe_path else None,
        log=log,
        workers=workers,
    )
    outcome = run_monitor(job, config.mlflow, progress=RichProgress(quiet=json_output), sql=config.sql)
    if save_profile is not None and outcome.profile is not None:
        write_profile(outcome.profile, str(save_profile))
    doc = outcome.document
    if json_output:
        print_json(doc)
    else:
        rows = [
            (
                w["start"] or "all rows",
                f"{w['rows']:,} rows · {w['status']} · {len(w['drifted_columns'])} drifted",
            )
            for w in doc["windows"]
        ]
        rows += [("alert", f"{a['window'] or 'all rows'}: {a['message']}") for a in doc["alerts"][:20]]
        rows += [("written", path) for path in outcome.written]
        print_table(f"Monitor · {doc['model']['name']} · {doc['status'].upper()}", rows)
    if outcome.exit_code:
        raise typer.Exit(ALERT_EXIT)
