"""`mmp evaluate --log`: record an evaluation as an MLflow run linked to the model it judged."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mmp.lifecycle.evaluate import Evaluation, EvaluationRun
    from mmp.recipe.config import Config


def log_evaluation(config: Config, evaluation_run: EvaluationRun, evaluation: Evaluation) -> str:
    """Log metrics (value, interval bounds), counts and the data fingerprint; return the run id.

    The run is tagged with the model's name, version and training run; a registered version gets a
    `mmp.last_evaluation` tag pointing back at the run, so the link shows on both sides in the UI.
    """
    import contextlib

    store = config.mlflow.store()
    experiment_id = store.experiment_id(config.mlflow.experiment, config.mlflow.artifact_location)
    client = store.client()
    model = evaluation.model
    tags = {
        "mmp.kind": "evaluation",
        "mmp.model.name": str(model["name"]),
        "mmp.model.version": str(model.get("version") or ""),
        "mmp.model.run_id": str(model.get("run_id") or ""),
        "mmp.model.uri": str(model["model_uri"]),
        "mmp.data.input": str(evaluation_run.data["input"]),
        "mmp.data.sha256": str(evaluation_run.data["fingerprint"].get("sha256", "")),
    }
    metrics: dict[str, float] = {
        "rows_read": evaluation_run.rows_read,
        "rows_evaluated": evaluation_run.rows_scored,
        "rows_rejected": evaluation_run.rows_rejected,
    }
    for name, value in evaluation.metrics.items():
        metrics[name] = value.value
        metrics[f"{name}_ci_low"] = value.low
        metrics[f"{name}_ci_high"] = value.high
    for segment in evaluation.segments:
        for name, number in segment.metrics.items():
            metrics[f"segment.{_key(segment.value)}.{name}"] = number
    metrics = {k: v for k, v in metrics.items() if v == v}
    label = f"evaluate {model['name']}" + (f" v{model['version']}" if model.get("version") else "")
    run = client.create_run(experiment_id, run_name=label, tags=tags)
    run_id = str(run.info.run_id)
    log_metrics(client, run_id, metrics)
    document = {**evaluation_run.to_dict(), "evaluation": evaluation.to_dict()}
    client.log_text(run_id, json.dumps(document, default=str, indent=2), "evaluation.json")
    client.set_terminated(run_id, "FINISHED")
    if model.get("version"):
        with contextlib.suppress(Exception):
            client.set_model_version_tag(model["name"], model["version"], "mmp.last_evaluation", run_id)
    return run_id


def log_metrics(client: Any, run_id: str, metrics: dict[str, float]) -> None:
    """Every metric in one call per 1,000 (the store's batch limit), not one round trip each."""
    import time

    from mlflow.entities import Metric

    stamp = int(time.time() * 1000)
    items = [Metric(key, float(value), stamp, 0) for key, value in metrics.items()]
    for start in range(0, len(items), 1000):
        client.log_batch(run_id, metrics=items[start : start + 1000])


def _key(value: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_\-. /]", "_", value)[:100]
