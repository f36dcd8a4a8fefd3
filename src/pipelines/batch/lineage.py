"""`--log-run`: record a batch job as an MLflow run, so a prediction table can be traced back.

The run holds the model (name, version, run id, URI), the input (description and a content
fingerprint), row counts (read, scored, rejected), the output location (passwords redacted) and
the timing. It is tagged `mmp.kind=batch-inference` and links to the model's training run.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmp.core.yamlio import redact_url
from mmp.pipelines.batch.locations import FileInput, InputSpec

if TYPE_CHECKING:
    from mmp.pipelines.batch.job import BatchResult
    from mmp.recipe.config import Config

FINGERPRINT_BLOCK = 1 << 20


def input_fingerprint(spec: InputSpec) -> dict[str, Any]:
    """A sha256 of the input: every file's bytes in order, or the SQL query text.

    For a query the hash names the question, not the answer (the rows can change between runs); the
    row counts of the run say how much came back.
    """
    digest = hashlib.sha256()
    if isinstance(spec, FileInput):
        size = 0
        for file in spec.files:
            digest.update(file.name.encode() + b"\0")
            with open(file, "rb") as fh:
                while block := fh.read(FINGERPRINT_BLOCK):
                    digest.update(block)
                    size += len(block)
        return {"kind": "files", "files": len(spec.files), "bytes": size, "sha256": digest.hexdigest()}
    digest.update(spec.query.strip().encode())
    return {"kind": "sql", "sha256": digest.hexdigest()}


def log_batch_run(config: Config, result: BatchResult, fingerprint: dict[str, Any]) -> str:
    """Log the job to the config's MLflow experiment; return the run id."""
    from mlflow.entities import Metric, Param, RunStatus

    from mmp import __version__

    store = config.mlflow.store()
    experiment_id = store.experiment_id(config.mlflow.experiment, config.mlflow.artifact_location)
    client = store.client()
    model = result.model
    tags = {
        "mmp.kind": "batch-inference",
        "mmp.version": __version__,
        "mmp.model.name": str(model.get("name")),
        "mmp.model.version": str(model.get("version")),
        "mmp.model.run_id": str(model.get("run_id")),
        "mmp.input.sha256": fingerprint["sha256"],
    }
    params = {
        "model_uri": redact_url(str(model.get("model_uri"))),
        "resolved_model_uri": redact_url(str(model.get("resolved_uri"))),
        "input": redact_url(result.input),
        "input_kind": fingerprint["kind"],
        "output": redact_url(result.output),
        "rejects": redact_url(result.rejects or ""),
        "engine": result.engine,
        "workers": result.workers,
        "chunk_rows": result.chunk_rows,
        "on_error": result.on_error,
        "probabilities": result.probabilities,
    }
    metrics = {
        "rows_read": result.rows_read,
        "rows_scored": result.rows_scored,
        "rows_rejected": result.rows_rejected,
        "duration_s": result.duration_s,
        "scoring_s": result.scoring_s,
        "rows_per_s": result.rows_per_s,
    }
    run = client.create_run(experiment_id, run_name=f"batch-{model.get('name')}", tags=tags)
    run_id = str(run.info.run_id)
    status = RunStatus.to_string(RunStatus.FAILED)
    try:
        now = int(time.time() * 1000)
        client.log_batch(
            run_id,
            metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()],
            params=[Param(k, str(v)) for k, v in params.items()],
        )
        with tempfile.TemporaryDirectory() as tmp:
            summary = Path(tmp) / "batch_summary.json"
            payload = {**result.to_dict(), "input_fingerprint": fingerprint}
            summary.write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
            client.log_artifact(run_id, str(summary))
        status = RunStatus.to_string(RunStatus.FINISHED)
    finally:
        client.set_terminated(run_id, status)
    return run_id
