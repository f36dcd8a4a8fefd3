"""`mmp monitor` end to end: find the reference, stream the data, score windows, write the outputs.

Outputs are atomic (written beside the target, then renamed): a failed run leaves no partial report.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmp.core.errors import MmpError
from mmp.core.progress import NullProgress, Progress
from mmp.monitoring.monitor import (
    ALERT_EXIT_CODE,
    epoch_us,
    evaluate,
    join_labels,
    plan,
    stream_batches,
    summarise,
)
from mmp.monitoring.profile import PROFILE_FILE, ReferenceProfile

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.dataset as ds

    from mmp.core.data_io import SqlConnection
    from mmp.core.model_store import LoadedModel
    from mmp.core.tracking import TrackingStore
    from mmp.recipe.config import MlflowSettings
    from mmp.recipe.monitoring import Monitoring


@dataclass
class MonitorJob:
    """Everything `mmp monitor` was asked to do."""

    data: str
    model_uri: str | None = None
    reference_profile: str | None = None  # a reference_profile.json
    reference_data: str | None = None  # compute the profile from this data (needs the model)
    labels: str | None = None
    window: str | None = None
    since: str | None = None
    until: str | None = None
    time_column: str | None = None
    engine: str = "local"
    spark_master: str = "local[*]"
    json_path: str | None = None
    report_path: str | None = None
    settings: Monitoring | None = None  # a recipe's monitoring block overrides the profile's
    log: bool = False
    batch_rows: int = 262_144
    workers: int | None = None  # threads of the local engine (None: one per core)
    label_memory_rows: int = 2_000_000  # labels held in memory; beyond, joined through disk partitions


@dataclass
class MonitorOutcome:
    document: dict[str, Any]
    profile: ReferenceProfile | None = None
    written: list[str] = field(default_factory=list)
    mlflow_run_id: str | None = None

    @property
    def exit_code(self) -> int:
        return ALERT_EXIT_CODE if self.document["status"] == "alert" else 0


def run_monitor(
    job: MonitorJob,
    mlflow_settings: MlflowSettings | None = None,
    progress: Progress | None = None,
    sql: SqlConnection | None = None,
) -> MonitorOutcome:
    """Monitor `job.data` against the model's reference; raise `MmpError` on bad input.

    `sql` gives the database URI for SQL sources (the config's `sql` block: an environment variable).
    """
    from mmp.monitoring.realized import LabelJoin, keyed_labels, scratch_folder
    from mmp.monitoring.sources import describe

    progress = progress or NullProgress()
    for target in (job.report_path, job.json_path):
        if target and not Path(target).parent.is_dir():
            raise MmpError(f"output folder does not exist: {Path(target).parent}", "create it first")
    loaded = None
    with progress.step("Loading the reference"):
        store = mlflow_settings.store() if mlflow_settings is not None else None
        profile, loaded = reference_for(job, store)
        if job.settings is not None:
            profile = profile.model_copy(update={"settings": job.settings})
    data = _open_data(job, sql)
    label_spec, keyed = None, None
    if job.labels:
        label_spec, keyed = keyed_labels(_label_tables(job, sql), profile.contract, describe(job.labels))
    the_plan = plan(
        profile, data.schema, data.where, job.window, job.since, job.until, job.time_column, label_spec
    )
    with contextlib.ExitStack() as scope:
        join = None
        if keyed is not None and the_plan.labels is not None:
            with progress.step("Reading labels"):
                folder = Path(scope.enter_context(scratch_folder()))
                join = LabelJoin(
                    keyed(the_plan.window_us, epoch_us),
                    the_plan.labels,
                    profile.contract,
                    the_plan.probability_columns,
                    folder,
                    memory_rows=job.label_memory_rows,
                    prediction_rows=data.rows,
                )
        with progress.step("Summarising windows", total=data.rows) as advance:
            if job.engine == "spark":
                from mmp.monitoring.spark import summarise_spark

                if data.dataset is None:
                    raise MmpError(
                        "--engine spark reads files; a SQL source is read by the local engine",
                        "drop --engine spark, or export the table to Parquet",
                    )
                states = summarise_spark(job.data, the_plan, data.where, job.spark_master)
                if join is not None:  # the labels' side runs here, over the few columns it needs
                    join_labels(data.dataset, the_plan, data.where, join, job.batch_rows)
            elif data.dataset is not None:
                states = summarise(
                    data.dataset, the_plan, data.where, job.batch_rows, advance, job.workers, join
                )
            else:
                assert data.tables is not None
                states = stream_batches(data.tables, the_plan, data.where, advance, join)
        realized = None
        if join is not None:
            with progress.step("Scoring labelled windows"):
                realized = join.finish()
    document = evaluate(
        profile, states, the_plan, data.where, realized, join.label_rows if join is not None else None
    )
    if loaded is not None:
        ident = loaded.identity
        document["model"].update({"name": ident.name, "version": ident.version, "run_id": ident.run_id})
    outcome = MonitorOutcome(document, profile)
    if job.log:
        with progress.step("Logging to MLflow"):
            outcome.mlflow_run_id = log_to_mlflow(document, loaded, mlflow_settings)
            document["mlflow_run_id"] = outcome.mlflow_run_id
    if job.json_path:
        write_atomic(Path(job.json_path), json.dumps(document, indent=1, allow_nan=False, default=str))
        outcome.written.append(job.json_path)
    if job.report_path:
        from mmp.monitoring.report import render_html

        write_atomic(Path(job.report_path), render_html(document))
        outcome.written.append(job.report_path)
    return outcome


@dataclass
class _Data:
    """The data to monitor: a dataset of files, or a SQL query's stream (and its first table)."""

    where: str
    schema: pa.Schema
    dataset: ds.Dataset | None = None
    tables: Iterator[pa.Table] | None = None
    rows: int | None = None


def _open_data(job: MonitorJob, sql: SqlConnection | None) -> _Data:
    import itertools

    import pyarrow.dataset as ds

    from mmp.monitoring.sources import describe, is_sql, open_dataset, sql_tables

    where = describe(job.data)
    if is_sql(job.data):
        tables = sql_tables(job.data, _sql_uri(sql, "--data"), "--data", job.batch_rows)
        first = next(tables, None)
        if first is None:
            raise MmpError(f"{where}: no rows to monitor", "check the query")
        return _Data(where, first.schema, tables=itertools.chain([first], tables))
    dataset = open_dataset(job.data, "--data")
    rows = dataset.count_rows() if isinstance(dataset.format, ds.ParquetFileFormat) else None
    return _Data(where, dataset.schema, dataset=dataset, rows=rows)


def _label_tables(job: MonitorJob, sql: SqlConnection | None) -> Iterator[pa.Table]:
    """The labels, streamed: a labels log folder, a labelled file, or a SQL source."""
    import pyarrow as pa

    from mmp.monitoring.sources import is_sql, open_dataset, sql_tables

    assert job.labels is not None
    if is_sql(job.labels):
        return sql_tables(job.labels, _sql_uri(sql, "--labels"), "--labels", job.batch_rows)
    dataset = open_dataset(job.labels, "--labels")
    return (pa.Table.from_batches([b]) for b in dataset.to_batches(batch_size=job.batch_rows) if b.num_rows)


def _sql_uri(sql: SqlConnection | None, what: str) -> str:
    if sql is None:
        raise MmpError(
            f"{what} is a SQL source, but no database is configured", "set sql.uri_env in the config"
        )
    return sql.uri()


def reference_for(
    job: MonitorJob, store: TrackingStore | None = None
) -> tuple[ReferenceProfile, LoadedModel | None]:
    """The profile from a file, from data (`--reference`), or from the model that carries one.

    `store` is the MLflow store to find the model in (None: MLFLOW_TRACKING_URI, else the default)."""
    from mmp.core.model_store import load_model

    if job.reference_profile:
        profile = ReferenceProfile.read(job.reference_profile)
        loaded = load_model(job.model_uri, store) if job.model_uri else None
        return profile, loaded
    if not job.model_uri:
        raise MmpError(
            "mmp monitor needs a model (--model-uri) or a reference profile (--reference-profile)",
            "e.g. mmp monitor -m models:/churn@champion --data logs/predictions/",
        )
    loaded = load_model(job.model_uri, store)
    if job.reference_data:
        return profile_from_data(loaded, job.reference_data, job.settings), loaded
    from mmp.monitoring.profile import profile_from_model

    carried = profile_from_model(loaded.path)
    if carried is None:
        raise MmpError(
            f"{job.model_uri} has no reference profile (trained before mmp wrote one)",
            "compute one from its training data: mmp monitor --reference TRAINING_DATA ...",
        )
    return carried, loaded


def profile_from_data(loaded: LoadedModel, source: str, settings: Monitoring | None) -> ReferenceProfile:
    """Profile reference data for a model trained without one: its inputs and the model's answers."""
    import numpy as np

    from mmp.core.scoring import model_input, predict
    from mmp.monitoring.profile import build_profile
    from mmp.monitoring.sources import open_dataset
    from mmp.recipe.monitoring import Monitoring

    contract = loaded.contract
    frame = open_dataset(source, "--reference").to_table().to_pandas()
    missing = [c for c in contract.model_input_columns if c not in frame.columns]
    if missing:
        raise MmpError(f"--reference {source}: no column {', '.join(map(repr, missing))} (a model input)")
    if frame.empty:
        raise MmpError(f"--reference {source}: no rows")
    out = predict(loaded.pipeline, contract, model_input(contract, frame))
    validation = None
    target = contract.target_column
    if target and target in frame.columns and contract.task != "clustering":
        validation = (frame[target].to_numpy(), np.asarray(out.values), out.probabilities)
    return build_profile(
        contract,
        frame,
        settings or Monitoring(),
        source,
        (np.asarray(out.values), out.probabilities),
        validation,
    )


def write_profile(profile: ReferenceProfile, path: str) -> None:
    write_atomic(Path(path), profile.to_json())


def write_atomic(target: Path, text: str) -> None:
    """Write to a temp file beside `target`, then rename: readers see the whole file or none."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def log_to_mlflow(
    document: dict[str, Any], loaded: LoadedModel | None, settings: MlflowSettings | None
) -> str:
    """One MLflow run per monitoring job; each window's scores are metrics at its time (step = window)."""
    import time

    from mlflow.entities import Metric, RunStatus

    from mmp.core.tracking import TrackingStore

    store = settings.store() if settings is not None else TrackingStore.resolve(None)
    experiment = settings.experiment if settings is not None else "mmp"
    experiment_id = store.experiment_id(experiment, settings.artifact_location if settings else None)
    client = store.client()
    tags = {
        "mmp.kind": "monitor",
        "mmp.monitor.status": document["status"],
        "mmp.recipe": document["model"]["name"],
    }
    if loaded is not None:
        ident = loaded.identity
        tags.update(
            {
                "mmp.monitor.model_uri": ident.resolved_uri,
                **({"mmp.monitor.model_run_id": ident.run_id} if ident.run_id else {}),
                **({"mmp.monitor.model_version": ident.version} if ident.version else {}),
            }
        )
    batch: list[Metric] = []
    run = client.create_run(experiment_id, run_name=f"monitor-{document['model']['name']}", tags=tags)
    status = RunStatus.to_string(RunStatus.FAILED)
    try:
        for step, window in enumerate(document["windows"]):
            metrics: dict[str, float] = {"rows": window["rows"], "drift_share": window["drift_share"]}
            metrics["alerts"] = len(window["alerts"])
            for name, col in window["columns"].items():
                if col["psi"] is not None:
                    metrics[f"psi.{_metric_name(name)}"] = col["psi"]
                    metrics[f"distance.{_metric_name(name)}"] = col["distance"]
            for name, col in window["prediction"].items():
                if col["psi"] is not None:
                    metrics[f"psi.{name}"] = col["psi"]
            for kind in ("realized", "estimated"):
                for key, value in (window[kind] or {}).items():
                    if isinstance(value, float):
                        metrics[f"{kind}.{key}"] = value
            when = window["start"]
            timestamp = None
            if when:
                from datetime import datetime

                timestamp = int(datetime.fromisoformat(when).timestamp() * 1000)
            stamp = timestamp if timestamp is not None else int(time.time() * 1000)
            batch += [Metric(key, float(value), stamp, step) for key, value in metrics.items()]
        for start in range(0, len(batch), 1000):  # MLflow's log_batch limit
            client.log_batch(run.info.run_id, metrics=batch[start : start + 1000])
        client.log_dict(run.info.run_id, document, "monitor_report.json")
        run_id = run.info.run_id
        status = RunStatus.to_string(RunStatus.FINISHED)
    finally:
        client.set_terminated(run.info.run_id, status)
    if loaded is not None and loaded.identity.version:
        client.set_model_version_tag(
            loaded.identity.name, loaded.identity.version, "mmp.monitor.last_run", run_id
        )
        client.set_model_version_tag(
            loaded.identity.name, loaded.identity.version, "mmp.monitor.last_status", document["status"]
        )
    return str(run_id)


def _metric_name(name: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_\-. /]", "_", name)


__all__ = ["PROFILE_FILE", "MonitorJob", "MonitorOutcome", "run_monitor", "write_profile"]
