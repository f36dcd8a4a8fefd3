"""Hyperparameter search with Optuna: each trial fits on train and is scored on validation.

The metric is always a canonical name with a known direction, and a trial whose metric cannot be
computed is an error, never a silent 0.0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mmp.core.errors import MmpError, import_optional
from mmp.core.progress import NullProgress, Progress
from mmp.pipelines.build import build_pipeline
from mmp.pipelines.evaluate import evaluate
from mmp.recipe.metrics import GREATER_IS_BETTER

if TYPE_CHECKING:
    from mmp.pipelines.prepare import Prepared
    from mmp.recipe.models import Recipe, SearchDimension


@dataclass(frozen=True)
class TuningResult:
    """The best trial and every trial's record (logged as an artifact)."""

    metric: str
    direction: str
    best_value: float
    best_params: dict[str, Any]
    trials: list[dict[str, Any]]


def _suggest(trial: Any, name: str, dim: SearchDimension) -> Any:
    if dim.type == "categorical":
        return trial.suggest_categorical(name, dim.choices)
    assert dim.low is not None and dim.high is not None
    if dim.type == "int":
        step = int(dim.step) if dim.step else 1
        return trial.suggest_int(name, int(dim.low), int(dim.high), step=step, log=dim.log)
    return trial.suggest_float(name, dim.low, dim.high, step=dim.step, log=dim.log)


def with_hyperparameters(recipe: Recipe, params: dict[str, Any]) -> Recipe:
    """A copy of the recipe whose estimator uses `params` on top of its fixed hyperparameters."""
    model = recipe.model.model_copy(update={"hyperparameters": {**recipe.model.hyperparameters, **params}})
    return recipe.model_copy(update={"model": model})


def tune(recipe: Recipe, prepared: Prepared, progress: Progress | None = None) -> TuningResult:
    """Run the recipe's search; raise MmpError if a trial's metric cannot be computed."""
    optuna = import_optional("optuna", "tune")
    spec = recipe.model.tuning
    assert spec is not None
    progress = progress or NullProgress()
    metric = recipe.tuning_metric
    greater = GREATER_IS_BETTER[metric]
    columns = prepared.columns
    train, validation = prepared.splits.train, prepared.splits.validation
    y = train[columns.target] if columns.target else None

    def objective(trial: Any) -> float:
        params = {name: _suggest(trial, name, dim) for name, dim in spec.search_space.items()}
        try:
            pipeline = build_pipeline(with_hyperparameters(recipe, params), columns)
            pipeline.fit(train[columns.model_input], y)
        except (TypeError, ValueError) as exc:  # the estimator rejected a value drawn from the space
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise MmpError(
                f"model.tuning: trial {trial.number} with {params} failed: {first_line}",
                "narrow model.tuning.search_space to values the estimator accepts",
            ) from exc
        scores = evaluate(pipeline, validation, columns.model_input, columns.target, recipe.task, [metric])
        if metric not in scores:
            raise MmpError(
                f"model.tuning.metric: '{metric}' cannot be computed for {recipe.model.class_path} "
                "on the validation split",
                "choose another metric (roc_auc and log_loss need predict_proba)",
            )
        return scores[metric]

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=recipe.seed)
    study = optuna.create_study(direction="maximize" if greater else "minimize", sampler=sampler)
    with progress.step(f"Tuning ({spec.n_trials} trials, {metric})", total=spec.n_trials) as advance:
        study.optimize(
            objective,
            n_trials=spec.n_trials,
            timeout=spec.timeout_s,
            callbacks=[lambda _study, _trial: advance(1)],
            catch=(),
        )
    trials = [{"number": t.number, "value": t.value, "state": t.state.name, **t.params} for t in study.trials]
    return TuningResult(
        metric=metric,
        direction=study.direction.name.lower(),
        best_value=float(study.best_value),
        best_params=dict(study.best_params),
        trials=trials,
    )
