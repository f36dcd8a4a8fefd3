"""Hyperparameter search with Optuna: each trial fits on train and is scored on validation.

The metric is always a canonical name with a known direction, and a trial whose metric cannot be
computed is an error, never a silent 0.0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mmp.core.errors import MmpError, first_line, import_optional
from mmp.core.metrics import get_metric, metrics_for
from mmp.core.progress import NullProgress, Progress
from mmp.pipelines.build import build_pipeline
from mmp.pipelines.evaluate import evaluate

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
    metric = get_metric(recipe.tuning_metric, recipe.task)
    columns = prepared.columns
    train, validation = prepared.splits.train, prepared.splits.validation
    y = train[columns.target] if columns.target else None

    def objective(trial: Any) -> float:
        params = {name: _suggest(trial, name, dim) for name, dim in spec.search_space.items()}
        try:
            pipeline = build_pipeline(with_hyperparameters(recipe, params), columns)
            pipeline.fit(train[columns.model_input], y)
        except (TypeError, ValueError) as exc:  # the estimator rejected a value drawn from the space
            raise MmpError(
                f"model.tuning: trial {trial.number} with {params} failed: {first_line(exc)}",
                "narrow model.tuning.search_space to values the estimator accepts",
            ) from exc
        scores = evaluate(
            pipeline, validation, columns.model_input, columns.target, recipe.task, [metric.name]
        )
        if metric.name not in scores:
            needing_proba = [m.name for m in metrics_for(recipe.task) if m.needs_proba]
            raise MmpError(
                f"model.tuning.metric: '{metric.name}' cannot be computed for {recipe.model.class_path} "
                "on the validation split",
                f"choose another metric ({' and '.join(needing_proba)} need predict_proba)"
                if needing_proba
                else "choose another metric",
            )
        return scores[metric.name]

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=recipe.seed)
    study = optuna.create_study(direction=metric.direction, sampler=sampler)
    with progress.step(f"Tuning ({spec.n_trials} trials, {metric.name})", total=spec.n_trials) as advance:
        study.optimize(
            objective,
            n_trials=spec.n_trials,
            timeout=spec.timeout_s,
            callbacks=[lambda _study, _trial: advance(1)],
            catch=(),
        )
    trials = [{"number": t.number, "value": t.value, "state": t.state.name, **t.params} for t in study.trials]
    return TuningResult(
        metric=metric.name,
        direction=study.direction.name.lower(),
        best_value=float(study.best_value),
        best_params=dict(study.best_params),
        trials=trials,
    )
