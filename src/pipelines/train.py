"""`mmp train` as a function: recipe + config + data -> a fitted pipeline logged to MLflow."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from mmp.core.contract import CONTRACT_FILE, FeatureContract, example_record
from mmp.core.model_metadata import METADATA_FORMAT, ModelMetadata
from mmp.core.progress import NullProgress, Progress
from mmp.core.yamlio import redact, redact_url
from mmp.monitoring.profile import PROFILE_FILE, compact_profile, training_profile
from mmp.pipelines.build import build_pipeline
from mmp.pipelines.evaluate import evaluate
from mmp.pipelines.prepare import Prepared, prepare
from mmp.pipelines.tracking import exact_requirements, flatten, git_commit

if TYPE_CHECKING:
    import pandas as pd

    from mmp.core.scoring import Predictions
    from mmp.pipelines.tune import TuningResult
    from mmp.recipe.config import Config
    from mmp.recipe.loader import Loaded
    from mmp.recipe.models import Recipe

MODEL_NAME = "model"


@dataclass
class TrainResult:
    """What a training run produced; `--json` prints exactly this."""

    run_id: str
    experiment_id: str
    model_uri: str
    run_model_uri: str
    tracking_uri: str
    metrics: dict[str, float]
    rows: dict[str, int]
    duration_s: float
    registered_model: str | None = None
    registered_version: str | None = None
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def fingerprint(df: pd.DataFrame) -> dict[str, Any]:
    """Rows, columns and a content hash of the training data, to know later what a model saw."""
    import pandas as pd

    digest = hashlib.sha256(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    digest.update(",".join(map(str, df.columns)).encode())
    return {"rows": len(df), "columns": [str(c) for c in df.columns], "sha256": digest.hexdigest()}


def train(
    recipe: Loaded[Recipe],
    config: Loaded[Config],
    data_path: str | None = None,
    register_as: str | None = None,
    progress: Progress | None = None,
) -> TrainResult:
    """Train the recipe's pipeline, evaluate it, and log everything to MLflow."""
    progress = progress or NullProgress()
    spec = recipe.model
    started = time.perf_counter()
    with progress.step("Loading data"):
        prepared = prepare(spec, config.model, data_path)
    tuning = None
    if spec.model.tuning is not None:
        from mmp.pipelines.tune import tune, with_hyperparameters

        tuning = tune(spec, prepared, progress)
        spec = with_hyperparameters(spec, tuning.best_params)
    with progress.step(f"Fitting {spec.model.class_path.rsplit('.', 1)[-1]}"):
        pipeline = build_pipeline(spec, prepared.columns, prepared.contract)
        train_df = prepared.splits.train
        X = train_df[prepared.columns.model_input]
        y = train_df[prepared.columns.target] if prepared.columns.target else None
        fit_started = time.perf_counter()
        pipeline.fit(X, y)
        fit_seconds = time.perf_counter() - fit_started
    with progress.step("Evaluating"):
        metrics, scored = _metrics(spec, prepared, pipeline)
    with progress.step("Logging to MLflow"):
        result = _log(
            recipe, spec, config, prepared, pipeline, metrics, scored, fit_seconds, register_as, tuning
        )
    result.duration_s = round(time.perf_counter() - started, 3)
    return result


def _metrics(
    recipe: Recipe, prepared: Prepared, pipeline: Any
) -> tuple[dict[str, float], dict[str, Predictions]]:
    """The validation and test metrics, and each split's predictions (scored once: the reference
    profile reuses the validation split's instead of predicting again)."""
    from mmp.core.scoring import predict

    out: dict[str, float] = {}
    scored: dict[str, Predictions] = {}
    inputs = prepared.columns.model_input
    for split_name, prefix in (("validation", "val"), ("test", "test")):
        frame = prepared.splits.named()[split_name]
        given = None
        if len(frame) and recipe.task != "clustering":
            # Labels and probabilities from one pass through the preprocessing (`scoring.predict`),
            # the same values `pipeline.predict`/`predict_proba` give.
            scored[split_name] = predict(pipeline, prepared.contract, frame[inputs])
            given = (scored[split_name].values, scored[split_name].probabilities)
        values = evaluate(
            pipeline, frame, inputs, prepared.columns.target, recipe.task, recipe.metric_names, given
        )
        out.update({f"{prefix}_{k}": v for k, v in values.items()})
    return out, scored


def _classes(pipeline: Any, task: str) -> list[Any] | None:
    if task != "classification":
        return None
    return list(getattr(pipeline, "classes_", [])) or None


def _log(
    recipe: Loaded[Recipe],
    spec: Recipe,
    config: Loaded[Config],
    prepared: Prepared,
    pipeline: Any,
    metrics: dict[str, float],
    scored: dict[str, Predictions],
    fit_seconds: float,
    register_as: str | None,
    tuning: TuningResult | None,
) -> TrainResult:
    import cloudpickle
    import mlflow
    from mlflow.entities import Metric, Param

    from mmp import __version__
    from mmp.core import conformance
    from mmp.core.tracking import libyaml_model_reads
    from mmp.pipelines import artifact_transformers

    settings = config.model.mlflow
    store = settings.store()
    client = store.client()
    experiment_id = store.experiment_id(settings.experiment, settings.artifact_location, client)
    columns = prepared.columns
    classes = _classes(pipeline, spec.task)
    contract = prepared.contract.model_copy(
        update={"classes": [_plain(c) for c in classes] if classes is not None else None}
    )
    example = _input_example(contract)
    signature = _signature(contract, example, pipeline)
    trained_at = datetime.now(UTC).isoformat(timespec="seconds")
    data_print = fingerprint(prepared.frame)
    # --- monitoring: the reference profile `mmp monitor` compares served data with (mmp.monitoring)
    profile = training_profile(
        contract,
        spec.monitoring,
        prepared.splits.train,
        prepared.splits.validation,
        pipeline,
        validation_predictions=scored.get("validation"),
    )
    # ---
    model_metadata = ModelMetadata(
        format_version=METADATA_FORMAT,
        mmp_version=__version__,
        recipe_name=spec.name,
        task=spec.task,
        trained_at=trained_at,
        metrics=metrics,
        feature_contract=contract,
        reference_profile_json=compact_profile(profile),
    ).to_mlmodel()
    tags = {
        "mmp.recipe": spec.name,
        "mmp.task": spec.task.value,
        "mmp.version": __version__,
        "mmp.data.sha256": data_print["sha256"],
        # From the redacted tree: metadata filled from ${VARS} keeps the expression, not the value.
        **{f"mmp.metadata.{k}": str(v) for k, v in (recipe.redacted.get("metadata") or {}).items()},
    }
    commit = git_commit()
    if commit:
        tags["mmp.git_commit"] = commit
    params = flatten(
        redact(
            {
                "task": spec.task.value,
                "seed": spec.seed,
                "model": spec.model.model_dump(mode="json"),
                "split": {**spec.data.split.model_dump(mode="json"), "strategy": spec.split_strategy},
                "preprocessing": spec.preprocessing.model_dump(mode="json"),
                "data": {"rows": data_print["rows"], "n_features": len(columns.features)},
            }
        )
    )
    # Ship the in-artifact transformers and the conformance rules by value: the model must load
    # (and check its input the way mmp does) where mmp is not installed.
    cloudpickle.register_pickle_by_value(artifact_transformers)
    cloudpickle.register_pickle_by_value(conformance)
    # MLflow's log_model has no client form: the fluent calls run inside the store's scope, which
    # restores the process-wide MLflow state afterwards (see TrackingStore.fluent).
    # Params, metrics and tags reach the store in one log_batch (plus the run's creation), not one
    # round trip per fluent call.
    logged_metrics = {**metrics, "fit_seconds": fit_seconds}
    if tuning is not None:
        logged_metrics[f"tuning_best_val_{tuning.metric}"] = tuning.best_value
        tags.update({"mmp.tuning.metric": tuning.metric, "mmp.tuning.direction": tuning.direction})
    now_ms = int(time.time() * 1000)
    with (
        store.fluent(),
        libyaml_model_reads(),
        mlflow.start_run(experiment_id=experiment_id, run_name=spec.name, tags=tags) as run,
    ):
        client.log_batch(
            run.info.run_id,
            metrics=[Metric(key, float(value), now_ms, 0) for key, value in logged_metrics.items()],
            params=[Param(key, str(_param(value))) for key, value in params.items()],
        )
        info = mlflow.sklearn.log_model(
            pipeline,
            name=MODEL_NAME,
            signature=signature,
            input_example=example,
            serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
            pip_requirements=exact_requirements([pipeline[-1], getattr(pipeline[-1], "estimator", None)]),
            metadata=model_metadata,
        )
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            (folder / CONTRACT_FILE).write_text(contract.to_json(), encoding="utf-8")
            (folder / PROFILE_FILE).write_text(profile.to_json(), encoding="utf-8")
            (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe.redacted, sort_keys=False), "utf-8")
            (folder / "config.yaml").write_text(yaml.safe_dump(config.redacted, sort_keys=False), "utf-8")
            (folder / "data_fingerprint.json").write_text(
                json.dumps({**data_print, "source": redact_url(prepared.source)}, indent=2), "utf-8"
            )
            if tuning is not None:
                (folder / "tuning_trials.json").write_text(json.dumps(tuning.trials, indent=2), "utf-8")
            mlflow.log_artifacts(str(folder))
        run_id = run.info.run_id
    result = TrainResult(
        run_id=run_id,
        experiment_id=experiment_id,
        model_uri=info.model_uri,
        run_model_uri=f"runs:/{run_id}/{MODEL_NAME}",
        tracking_uri=store.display,
        metrics=metrics,
        rows={name: len(frame) for name, frame in prepared.splits.named().items()},
        duration_s=0.0,
    )
    name = register_as or settings.registered_model_name
    if name:
        quiet = contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO())
        with store.fluent(), quiet[0], quiet[1]:
            version = mlflow.register_model(info.model_uri, name)
        result.registered_model, result.registered_version = name, str(version.version)
    return result


def _param(value: Any) -> Any:
    text = value if isinstance(value, str) else json.dumps(value) if isinstance(value, dict | list) else value
    return text[:6000] if isinstance(text, str) else text


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _input_example(contract: FeatureContract) -> pd.DataFrame:
    """One made-up record of typical values (never a training row: the example is published)."""
    import pandas as pd

    record = example_record(contract)
    return pd.DataFrame([{name: record[name] for name in contract.model_input_columns}])


def _signature(contract: FeatureContract, example: pd.DataFrame, pipeline: Any) -> Any:
    """The MLflow signature, from the conformance rules: every input column by name, typed `string`
    for text columns (MLflow's check then refuses what the rules refuse) and `any` elsewhere, where
    MLflow's stricter casts would refuse values the rules accept (3.0 for an integer, `"yes"` for a
    boolean, a null in an integer column, an ISO date as text). The pipeline's first step,
    `ConformInput`, converts or refuses them exactly as every mmp surface does."""
    from mlflow.models import ModelSignature
    from mlflow.types.schema import AnyType, ColSpec, Schema
    from mlflow.types.utils import _infer_schema

    specs: list[Any] = [
        ColSpec("string" if rule.kind == "string" else AnyType(), rule.name)
        for rule in contract.rules(contract.model_input_columns)
    ]
    return ModelSignature(inputs=Schema(specs), outputs=_infer_schema(pipeline.predict(example)))
