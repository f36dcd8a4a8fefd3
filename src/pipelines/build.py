"""Build the one scikit-learn Pipeline a recipe describes: preprocessing + estimator.

Only scikit-learn transformers (and `artifact_transformers`, shipped by value) go into it, so the
logged model loads wherever scikit-learn does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mmp.pipelines.columns import ResolvedColumns
from mmp.recipe.components import accepted_params, import_class

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

    from mmp.core.contract import FeatureContract
    from mmp.recipe.models import Recipe, Step

CONFORM_STEP = "conform"


def _steps(steps: list[Step], prefix: str) -> list[tuple[str, Any]]:
    built = []
    for i, step in enumerate(steps):
        cls = import_class(step.class_path)
        built.append((f"{prefix}{i}_{step.type.rsplit('.', 1)[-1].lower()}", cls(**step.resolved_params())))
    return built


# Libraries whose classifiers only accept labels 0..k-1.
NEEDS_ENCODED_LABELS = frozenset({"xgboost"})


def build_estimator(recipe: Recipe) -> Any:
    """The estimator with its hyperparameters, seeded from the recipe when it takes a random_state."""
    cls = import_class(recipe.model.class_path)
    params = dict(recipe.model.hyperparameters)
    accepted, _ = accepted_params(cls)
    if "random_state" in accepted and "random_state" not in params:
        params["random_state"] = recipe.seed
    estimator = cls(**params)
    if recipe.task == "classification" and cls.__module__.split(".")[0] in NEEDS_ENCODED_LABELS:
        from mmp.pipelines.artifact_transformers import EncodedLabelsClassifier

        return EncodedLabelsClassifier(estimator)
    return estimator


def build_pipeline(
    recipe: Recipe, columns: ResolvedColumns, contract: FeatureContract | None = None
) -> Pipeline:
    """Preprocessing for numeric, categorical and timestamp columns, then the estimator.

    With a `contract`, the first step is `mmp.core.conformance.ConformInput`: the logged model then
    converts (or refuses) its input by the same rules as every mmp surface, without mmp installed.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer

    from mmp.pipelines.artifact_transformers import CalendarFeatures, as_object

    transformers: list[tuple[str, Any, list[str]]] = []
    if columns.numeric:
        numeric_steps = _steps(recipe.preprocessing.numeric, "n")
        numeric = Pipeline(numeric_steps) if numeric_steps else "passthrough"
        transformers.append(("numeric", numeric, columns.numeric))
    if columns.categorical:
        categorical_steps = [
            ("as_object", FunctionTransformer(as_object, feature_names_out="one-to-one")),
            *_steps(recipe.preprocessing.categorical, "c"),
        ]
        transformers.append(("categorical", Pipeline(categorical_steps), columns.categorical))
    if columns.uses_timestamp and columns.timestamp:
        calendar = CalendarFeatures(tuple(recipe.preprocessing.calendar_features))
        transformers.append(("calendar", calendar, [columns.timestamp]))
    preprocess = ColumnTransformer(transformers, remainder="drop", verbose_feature_names_out=True)
    pipeline_steps: list[tuple[str, Any]] = [("preprocess", preprocess), ("model", build_estimator(recipe))]
    if contract is not None:
        from mmp.core.conformance import ConformInput

        pipeline_steps.insert(0, (CONFORM_STEP, ConformInput(tuple(contract.rules(columns.model_input)))))
    return Pipeline(pipeline_steps)
