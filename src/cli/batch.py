"""`mmp batch-inference`: parse options, call `mmp.pipelines.batch.run_batch`, print the result."""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from pathlib import Path

import typer

from mmp.cli.options import ConfigPath, Engine, JsonOutput, ModelUri, RunId


class OnError(StrEnum):
    fail = "fail"
    skip = "skip"


def batch_inference(
    run_id: str | None = RunId,
    model_uri: str | None = ModelUri,
    data_path: str = typer.Option(
        ...,
        "--data-path",
        "-d",
        envvar="MMP_DATA_PATH",
        help="Input: a .parquet/.csv/.tsv/.jsonl file, a folder or glob of them, or a .sql file or query.",
        show_default=False,
    ),
    output_path: str | None = typer.Option(
        None,
        "--output-path",
        "-o",
        envvar="MMP_OUTPUT_PATH",
        help="Output: a .parquet/.csv/.tsv/.jsonl file or sql://TABLE. Default: batch.output in the config.",
        show_default=False,
    ),
    config_path: Path | None = ConfigPath,
    chunk_rows: int | None = typer.Option(
        None, "--chunk-rows", min=1, help="Rows per chunk (memory use). Default: batch.chunk_rows (100000)."
    ),
    workers: int | None = typer.Option(
        None, "--workers", "-w", min=1, help="Scoring processes (CPU-bound models). Default: 1."
    ),
    probabilities: bool = typer.Option(
        False, "--probabilities", help="Add one probability_<class> column per class (classifiers)."
    ),
    on_error: OnError = typer.Option(
        OnError.fail,
        "--on-error",
        help="A row that cannot be scored: fail (stop, naming row and column) or skip (to the rejects file).",
    ),
    rejects_path: str | None = typer.Option(
        None,
        "--rejects-path",
        help="Rejects file for --on-error skip. Default: NAME.rejects.csv beside output NAME.*.",
    ),
    log_run: bool = typer.Option(
        False, "--log-run", help="Record the job (input fingerprint, counts, output) as an MLflow run."
    ),
    engine: Engine = typer.Option(
        Engine.local,
        "--engine",
        help="local (streaming, this machine) or spark (needs the spark extra).",
    ),
    spark_master: str = typer.Option(
        "local[*]", "--spark-master", help="Spark master URL for --engine spark."
    ),
    force: bool = typer.Option(False, "--force", "-f", help="Replace an existing output (and rejects file)."),
    json_output: bool = JsonOutput,
) -> None:
    """Score a file, folder, glob or SQL query in chunks and write the predictions atomically."""
    from mmp.cli.console import RichProgress, print_json, print_table
    from mmp.core.model_ref import ModelRef
    from mmp.pipelines.batch import BatchJob, run_batch
    from mmp.recipe.loader import load_config

    config = load_config(config_path).model
    job = BatchJob(
        model_uri=ModelRef.from_options(run_id, model_uri).uri,
        data_path=data_path,
        output_path=output_path,
        chunk_rows=chunk_rows,
        workers=workers,
        probabilities=probabilities,
        on_error=on_error.value,  # type: ignore[arg-type]
        rejects_path=rejects_path,
        log_run=log_run,
        engine=engine.value,  # type: ignore[arg-type]
        spark_master=spark_master,
        force=force,
    )
    try:
        result = run_batch(job, config, progress=RichProgress(quiet=json_output))
    except KeyboardInterrupt:
        # run_batch has already removed every partial output. Exit now, skipping interpreter
        # shutdown: there, CPython's concurrent.futures atexit hook joins the process pool's manager
        # thread, which can hang after the workers were terminated (seen under load with SIGTERM).
        sys.stderr.write("Interrupted: no output was written.\n")
        sys.stderr.flush()
        sys.stdout.flush()
        os._exit(130)
    if json_output:
        print_json(result.to_dict())
        return
    model = result.model
    version = f" v{model['version']}" if model.get("version") else ""
    rows = [
        ("model", f"{model['name']}{version} (run {model['run_id']})"),
        ("input", result.input),
        ("output", result.output),
        ("rows read", f"{result.rows_read:,}"),
        ("rows scored", f"{result.rows_scored:,}"),
        ("rows rejected", f"{result.rows_rejected:,}"),
    ]
    if result.rejects:
        rows.append(("rejects", result.rejects))
    rows.append(("time", f"{result.duration_s:.1f}s, scoring at {result.rows_per_s:,.0f} rows/s"))
    if result.lineage_run_id:
        rows.append(("lineage run", result.lineage_run_id))
    print_table("Batch inference", rows)
