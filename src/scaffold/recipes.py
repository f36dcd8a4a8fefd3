"""`mmp get-recipe` as functions: choices (from flags, prompts or a data profile) -> a recipe file.

The YAML is built as data and checked against the real `Recipe` model before anything is written,
so a generated recipe can only fail `mmp validate` on what needs the data itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import yaml

from mmp.core.errors import MmpError
from mmp.core.metrics import default_metrics
from mmp.core.suggest import did_you_mean

if TYPE_CHECKING:
    from mmp.recipe.models import Recipe
    from mmp.scaffold.inspect import DataProfile


@dataclass(frozen=True)
class Estimator:
    """A catalog entry: a class path, starting hyperparameters, whether features need scaling."""

    class_path: str
    hyperparameters: dict[str, Any]
    scale: bool = False
    summary: str = ""


_REGRESSORS = {
    "hist_gradient_boosting": Estimator(
        "sklearn.ensemble.HistGradientBoostingRegressor",
        {"max_iter": 200, "learning_rate": 0.05},
        summary="fast gradient boosting, handles missing values (scikit-learn)",
    ),
    "random_forest": Estimator(
        "sklearn.ensemble.RandomForestRegressor",
        {"n_estimators": 200, "n_jobs": 1},
        summary="robust baseline (scikit-learn)",
    ),
    "ridge": Estimator("sklearn.linear_model.Ridge", {"alpha": 1.0}, True, "linear, scaled features"),
    "lightgbm": Estimator(
        "lightgbm.LGBMRegressor",
        {"n_estimators": 300, "learning_rate": 0.05, "verbose": -1},
        summary="LightGBM (extra: boost)",
    ),
    "xgboost": Estimator(
        "xgboost.XGBRegressor",
        {"n_estimators": 300, "learning_rate": 0.05, "max_depth": 6},
        summary="XGBoost (extra: boost)",
    ),
}

ESTIMATORS: dict[str, dict[str, Estimator]] = {
    "classification": {
        "random_forest": Estimator(
            "sklearn.ensemble.RandomForestClassifier",
            {"n_estimators": 200, "n_jobs": 1},
            summary="robust baseline (scikit-learn)",
        ),
        "hist_gradient_boosting": Estimator(
            "sklearn.ensemble.HistGradientBoostingClassifier",
            {"max_iter": 200, "learning_rate": 0.05},
            summary="fast gradient boosting, handles missing values (scikit-learn)",
        ),
        "logistic_regression": Estimator(
            "sklearn.linear_model.LogisticRegression", {"max_iter": 1000}, True, "linear, scaled features"
        ),
        "lightgbm": Estimator(
            "lightgbm.LGBMClassifier",
            {"n_estimators": 300, "learning_rate": 0.05, "verbose": -1},
            summary="LightGBM (extra: boost)",
        ),
        "xgboost": Estimator(
            "xgboost.XGBClassifier",
            {"n_estimators": 300, "learning_rate": 0.05, "max_depth": 6},
            summary="XGBoost (extra: boost)",
        ),
    },
    "regression": _REGRESSORS,
    "timeseries": _REGRESSORS,
    "clustering": {
        "kmeans": Estimator(
            "sklearn.cluster.KMeans", {"n_clusters": 3, "n_init": 10}, True, "k-means, scaled features"
        ),
        "gaussian_mixture": Estimator(
            "sklearn.mixture.GaussianMixture", {"n_components": 3}, True, "soft clusters, scaled features"
        ),
    },
}

_RECIPE_NAME = re.compile(r"[^A-Za-z0-9_.\-]+")


@dataclass
class RecipeChoices:
    """Everything a generated recipe says. Column lists left as None are detected at training."""

    name: str
    task: str
    estimator: str  # a catalog name for the task, or a class path
    source: str | None = None
    target: str | None = None
    entity_columns: list[str] = field(default_factory=list)
    timestamp_column: str | None = None
    feature_columns: list[str] | None = None
    numeric_columns: list[str] | None = None
    categorical_columns: list[str] | None = None
    group_split: bool = False
    notes: list[str] = field(default_factory=list)


def recipe_name_from(text: str) -> str:
    """A valid recipe name from a file stem or a free text ('Sales 2024.csv' -> 'sales_2024')."""
    stem = Path(text).stem if "." in text or "/" in text else text
    name = _RECIPE_NAME.sub("_", stem).strip("_.-").lower()
    return name if name and name[0].isalnum() else f"recipe_{name}".rstrip("_")


def default_estimator(task: str) -> str:
    return next(iter(ESTIMATORS[task]))


def choices_from_profile(
    profile: DataProfile, name: str | None = None, estimator: str | None = None
) -> RecipeChoices:
    """Turn a data profile into recipe choices; dropped columns are listed in the header, not used."""
    features = [*profile.numeric_columns, *profile.categorical_columns]
    if not features:
        raise MmpError(
            f"{profile.source}: no column is left to learn from once identifiers and target are set aside",
            "check the data, or pass --entity with only the real identifiers",
        )
    notes = [
        f"Inspected {profile.rows} rows of {profile.source}; task: {profile.task} ({profile.task_reason})."
    ]
    for column in profile.columns:
        if column.role == "entity":
            notes.append(f"{column.name}: entity ({column.reason})")
        elif column.role == "timestamp" and profile.task == "timeseries":
            notes.append(
                f"{column.name}: timestamp ({column.reason}): calendar features and the temporal split"
            )
        elif column.role == "timestamp":
            notes.append(
                f"{column.name}: timestamp ({column.reason}), unused: the split is random and a "
                f"{profile.task} model does not see it (set data.split.strategy: temporal to split by it)"
            )
    notes += [f"{column}: left out ({reason})" for column, reason in profile.dropped.items()]
    group = profile.entities_repeat and profile.task in ("classification", "regression")
    if group:
        notes.append("entities have several rows: rows of one entity stay in one split (strategy: group)")
    return RecipeChoices(
        name=name or recipe_name_from(profile.source),
        task=profile.task,
        estimator=estimator or default_estimator(profile.task),
        source=profile.source,
        target=profile.target,
        entity_columns=profile.entity_columns,
        timestamp_column=profile.timestamp_column,
        feature_columns=features,
        numeric_columns=profile.numeric_columns,
        categorical_columns=profile.categorical_columns,
        group_split=group,
        notes=notes,
    )


def _estimator(task: str, choice: str) -> Estimator:
    catalog = ESTIMATORS[task]
    if choice in catalog:
        return catalog[choice]
    if "." in choice:
        return Estimator(choice, {})
    raise MmpError(
        f"unknown estimator '{choice}' for {task}{did_you_mean(choice, catalog)}",
        f"choose one of {', '.join(catalog)}, or give a class path such as sklearn.svm.SVC",
    )


def recipe_document(choices: RecipeChoices) -> dict[str, Any]:
    """The recipe as plain data, keys in the order people read them."""
    estimator = _estimator(choices.task, choices.estimator)
    interface: dict[str, Any] = {"entity_columns": list(choices.entity_columns)}
    if choices.target is not None:
        interface["target_column"] = choices.target
    if choices.timestamp_column is not None:
        interface["timestamp_column"] = choices.timestamp_column
    for key in ("feature_columns", "categorical_columns", "numeric_columns"):
        value = getattr(choices, key)
        if value is not None:
            interface[key] = list(value)
    split: dict[str, Any] = {"strategy": _split_strategy(choices)}
    split.update({"train": 0.7, "validation": 0.15, "test": 0.15})
    numeric: list[dict[str, Any]] = [{"type": "simple_imputer", "params": {"strategy": "median"}}]
    if estimator.scale:
        numeric.append({"type": "standard_scaler"})
    data: dict[str, Any] = {}
    if choices.source is not None:
        data["source"] = choices.source
    data["data_interface"] = interface
    data["split"] = split
    return {
        "name": choices.name,
        "task": choices.task,
        "seed": 42,
        "model": {"class_path": estimator.class_path, "hyperparameters": dict(estimator.hyperparameters)},
        "data": data,
        "preprocessing": {
            "numeric": numeric,
            "categorical": [
                {"type": "simple_imputer", "params": {"strategy": "most_frequent"}},
                {"type": "one_hot_encoder"},
            ],
        },
        "evaluation": {"metrics": list(default_metrics(choices.task))},
    }


def _split_strategy(choices: RecipeChoices) -> str:
    if choices.task == "timeseries":
        return "temporal"
    if choices.group_split and choices.entity_columns:
        return "group"
    return "random"


def recipe_yaml(choices: RecipeChoices, command: str) -> str:
    """The recipe text: a header saying where it came from and what to check, then the YAML."""
    check = (
        "Check the column roles above, then: mmp validate -r <this file>"
        if choices.source is not None
        else "Check it against the data: mmp validate -r <this file> --data-path DATA"
    )
    header = [f"Generated by `{command}` on {date.today().isoformat()}.", *choices.notes, check]
    body = yaml.dump(recipe_document(choices), Dumper=_RecipeDumper, sort_keys=False, width=100)
    return "".join(f"# {line}\n" for line in header) + body


class _RecipeDumper(yaml.SafeDumper):
    """Block style with indented sequences, as the example recipes are written; lists of plain
    values (column names, metrics) stay on one line."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    flat = all(isinstance(item, str | int | float | bool) for item in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flat)


_RecipeDumper.add_representer(list, _represent_list)


def check_recipe(text: str, where: str) -> Recipe:
    """Parse and validate generated recipe text with the real model (estimator import included)."""
    from mmp.recipe.loader import validate_data
    from mmp.recipe.models import Recipe

    return validate_data(Recipe, yaml.safe_load(text), where, "change the options and run again")


def refuse_existing(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise MmpError(f"{path} already exists", "choose another --output, or pass --force to replace it")


T = TypeVar("T")


def validated(check: Callable[[], T]) -> T:
    """Run `mmp validate`'s checks on a proposal before it is written; a failure writes nothing."""
    try:
        return check()
    except MmpError as exc:
        raise MmpError(
            f"the proposed recipe does not pass mmp validate, so it was not written: {exc.message}",
            exc.hint or "fix the data or pass --task/--target/--entity/--timestamp explicitly",
        ) from None


def write_new(path: Path, text: str, force: bool) -> Path:
    """Write a generated file; an existing one is replaced only with --force."""
    if path.exists() and not force:
        raise MmpError(f"{path} already exists", "choose another --output, or pass --force to replace it")
    if path.exists() and path.is_dir():
        raise MmpError(f"{path} is a folder", "give a file path to --output")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
