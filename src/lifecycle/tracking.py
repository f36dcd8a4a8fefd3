"""`mmp evaluate --log`: record an evaluation as an MLflow run linked to the model it judged."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mmp.lifecycle.evaluate import Evaluation, EvaluationRun
    from mmp.recipe.config import Config


def log_evaluation(config: Config, run: EvaluationRun, evaluation: Evaluation) -> str:
    """Log metrics (value, interval bounds), counts and the data fingerprint; return the run id.

    The run is tagged with the model's name, version and training run; a registered version gets a
    `mmp.last_evaluation` tag pointing back at the run, so the link shows on both sides in the UI.
    """
    import contextlib

    import mlflow

    from mmp.pipelines.tracking import use_tracking

    use_tracking(config.mlflow)
    model = evaluation.model
    tags = {
        "mmp.kind": "evaluation",
        "mmp.model.name": str(model["name"]),
        "mmp.model.version": str(model.get("version") or ""),
        "mmp.model.run_id": str(model.get("run_id") or ""),
        "mmp.model.uri": str(model["model_uri"]),
        "mmp.data.input": str(run.data["input"]),
        "mmp.data.sha256": str(run.data["fingerprint"].get("sha256", "")),
    }
    metrics: dict[str, float] = {
        "rows_read": run.rows_read,
        "rows_evaluated": run.rows_scored,
        "rows_rejected": run.rows_rejected,
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
    with mlflow.start_run(run_name=label, tags=tags) as active:
        mlflow.log_metrics(metrics)
        mlflow.log_text(
            json.dumps({**run.to_dict(), "evaluation": evaluation.to_dict()}, default=str, indent=2),
            "evaluation.json",
        )
        run_id = str(active.info.run_id)
    if model.get("version"):
        with contextlib.suppress(Exception):
            mlflow.MlflowClient().set_model_version_tag(
                model["name"], model["version"], "mmp.last_evaluation", run_id
            )
    return run_id


def _key(value: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_\-. /]", "_", value)[:100]
