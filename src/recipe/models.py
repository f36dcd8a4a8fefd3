"""The recipe: what to train. Every field is typed and strict; cross-field rules live beside the fields."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from mmp.core import metrics as registry
from mmp.core.suggest import did_you_mean
from mmp.core.tasks import Task
from mmp.recipe.base import StrictModel
from mmp.recipe.components import TRANSFORMERS, check_params, import_class
from mmp.recipe.monitoring import Monitoring
from mmp.recipe.promotion import PromotionPolicy

CalendarFeature = Literal[
    "year",
    "quarter",
    "month",
    "week",
    "day",
    "dayofweek",
    "dayofyear",
    "hour",
    "is_weekend",
    "is_month_start",
    "is_month_end",
]
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


class SearchDimension(StrictModel):
    """One hyperparameter's search range for tuning."""

    type: Literal["int", "float", "categorical"] = Field(description="Kind of values to try.")
    low: float | None = Field(default=None, description="Lower bound (int and float).")
    high: float | None = Field(default=None, description="Upper bound, inclusive (int and float).")
    log: bool = Field(default=False, description="Sample on a log scale (bounds must be > 0).")
    step: float | None = Field(default=None, description="Grid step (int and float, not with log).")
    choices: list[Any] | None = Field(default=None, description="Values to try (categorical).")

    @model_validator(mode="after")
    def _consistent(self) -> SearchDimension:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("a categorical dimension needs a non-empty `choices` list")
            if self.low is not None or self.high is not None:
                raise ValueError("a categorical dimension takes `choices`, not low/high")
            return self
        if self.choices is not None:
            raise ValueError(f"an {self.type} dimension takes low/high, not `choices`")
        if self.low is None or self.high is None or self.low >= self.high:
            raise ValueError("low and high are required, with low < high")
        if self.log and (self.low <= 0 or self.step is not None):
            raise ValueError("log scale needs low > 0 and no step")
        if self.type == "int" and not (float(self.low).is_integer() and float(self.high).is_integer()):
            raise ValueError("an int dimension needs whole-number bounds")
        return self


class Tuning(StrictModel):
    """Hyperparameter search with Optuna (the `tune` extra), scored on the validation split."""

    n_trials: int = Field(default=20, gt=0, description="Number of trials.")
    timeout_s: float | None = Field(default=None, gt=0, description="Stop starting trials after this.")
    metric: str | None = Field(
        default=None,
        description="Metric (or alias) to optimise on the validation split; its direction is known "
        "(e.g. rmse is minimised). Default: the recipe's first metric.",
    )
    search_space: dict[str, SearchDimension] = Field(
        description="Hyperparameter -> range; each name is checked against the estimator's signature."
    )


class ModelSpec(StrictModel):
    """The estimator: any importable class with the scikit-learn API, and its hyperparameters."""

    class_path: str = Field(
        description="Import path of an estimator with the scikit-learn API, "
        "e.g. sklearn.ensemble.RandomForestClassifier or lightgbm.LGBMRegressor."
    )
    hyperparameters: dict[str, Any] = Field(
        default_factory=dict,
        description="Keyword arguments for the estimator; each is checked against its signature.",
    )

    @field_validator("class_path")
    @classmethod
    def _importable(cls, value: str) -> str:
        estimator = import_class(value)
        if not (hasattr(estimator, "fit") and (hasattr(estimator, "predict"))):
            raise ValueError(f"{value} has no fit/predict methods: not a scikit-learn estimator")
        return value

    @field_validator("hyperparameters")
    @classmethod
    def _known_hyperparameters(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        class_path = info.data.get("class_path")
        if class_path is not None:  # otherwise class_path already reported its own error
            check_params(import_class(class_path), value)
        return value

    tuning: Tuning | None = Field(
        default=None,
        description="Optional search over hyperparameters; the best trial's values override "
        "`hyperparameters` for the final fit.",
    )

    @field_validator("tuning")
    @classmethod
    def _known_search_space(cls, value: Tuning | None, info: ValidationInfo) -> Tuning | None:
        class_path = info.data.get("class_path")
        if value is not None and class_path is not None:
            check_params(import_class(class_path), value.search_space, values=False)
        return value


class DataInterface(StrictModel):
    """The roles of the columns. Entity and target columns never become features."""

    entity_columns: list[str] = Field(
        default_factory=list,
        description="Identifier columns: echoed in predictions, never used as features.",
    )
    target_column: str | None = Field(
        default=None, description="The column to predict (none for clustering)."
    )
    timestamp_column: str | None = Field(
        default=None,
        description="Event time: drives temporal splits; becomes calendar features for timeseries "
        "tasks and is never a raw feature for tabular tasks.",
    )
    feature_columns: list[str] | None = Field(
        default=None,
        description="Feature columns; default: every column that has no other role.",
    )
    categorical_columns: list[str] | None = Field(
        default=None,
        description="Features to treat as categorical; default: string, boolean and category columns.",
    )
    numeric_columns: list[str] | None = Field(
        default=None, description="Features to treat as numeric; default: number columns."
    )

    @model_validator(mode="after")
    def _roles_do_not_overlap(self) -> DataInterface:
        for field in (
            "entity_columns",
            "feature_columns",
            "categorical_columns",
            "numeric_columns",
        ):
            columns = getattr(self, field) or []
            duplicates = sorted({c for c in columns if columns.count(c) > 1})
            if duplicates:
                raise ValueError(f"{field} lists {', '.join(duplicates)} more than once")
        entity = set(self.entity_columns)
        features = set(self.feature_columns or [])
        if self.target_column is not None:
            if self.target_column in entity:
                raise ValueError(f"target column '{self.target_column}' is also an entity column")
            if self.target_column in features:
                raise ValueError(f"target column '{self.target_column}' is also a feature column")
        if self.timestamp_column is not None:
            if self.timestamp_column == self.target_column:
                raise ValueError(f"'{self.timestamp_column}' is both the target and the timestamp")
            if self.timestamp_column in features:
                raise ValueError(
                    f"timestamp column '{self.timestamp_column}' must not be listed as a feature "
                    "(timeseries tasks derive calendar features from it)"
                )
        if entity & features:
            raise ValueError(f"{', '.join(sorted(entity & features))}: both entity and feature")
        categorical = set(self.categorical_columns or [])
        numeric = set(self.numeric_columns or [])
        if categorical & numeric:
            raise ValueError(f"{', '.join(sorted(categorical & numeric))}: both categorical and numeric")
        special = entity | {self.target_column, self.timestamp_column} - {None}
        if (categorical | numeric) & special:
            bad = sorted((categorical | numeric) & special)
            raise ValueError(f"{', '.join(bad)}: an entity/target/timestamp column cannot be a feature")
        if self.feature_columns is not None and not (categorical | numeric) <= features:
            extra = sorted((categorical | numeric) - features)
            raise ValueError(f"{', '.join(extra)}: typed as categorical/numeric but not in feature_columns")
        return self


class SplitSpec(StrictModel):
    """How rows are divided into train, validation and test sets."""

    strategy: Literal["random", "temporal", "group"] | None = Field(
        default=None,
        description="random (stratified for classifiers), temporal (by timestamp_column) or group "
        "(rows of one entity stay together). Default: temporal for timeseries, random otherwise.",
    )
    train: float = Field(default=0.7, gt=0, lt=1, description="Share of rows for training.")
    validation: float = Field(default=0.15, ge=0, lt=1, description="Share for validation metrics.")
    test: float = Field(default=0.15, ge=0, lt=1, description="Share for test metrics.")
    stratify: bool | None = Field(
        default=None, description="Stratify random splits by class (default: yes for classifiers)."
    )
    group_column: str | None = Field(
        default=None, description="Column for group splits (default: the first entity column)."
    )

    @model_validator(mode="after")
    def _ratios_sum_to_one(self) -> SplitSpec:
        total = self.train + self.validation + self.test
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"train + validation + test must be 1, got {total:g}")
        return self


class Step(StrictModel):
    """One preprocessing step: a short name or a class path, plus the transformer's parameters."""

    type: str = Field(
        description=f"One of {', '.join(TRANSFORMERS)}, or the class path of a scikit-learn transformer."
    )
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="Keyword arguments for the transformer; each is checked against its signature "
        "and passed through unchanged (nothing is dropped).",
    )

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in TRANSFORMERS and "." not in value:
            raise ValueError(f"unknown step type '{value}'{did_you_mean(value, TRANSFORMERS)}")
        if "." in value:
            import_class(value)
        return value

    @field_validator("params")
    @classmethod
    def _known_params(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        step_type = info.data.get("type")
        if step_type is not None:
            class_path = TRANSFORMERS[step_type][0] if step_type in TRANSFORMERS else step_type
            check_params(import_class(class_path), value)
        return value

    @property
    def class_path(self) -> str:
        return TRANSFORMERS[self.type][0] if self.type in TRANSFORMERS else self.type

    def resolved_params(self) -> dict[str, Any]:
        """mmp's defaults for the step type, overridden by every explicit parameter."""
        defaults = TRANSFORMERS[self.type][1] if self.type in TRANSFORMERS else {}
        return {**defaults, **self.params}


def _default_calendar() -> list[CalendarFeature]:
    return ["year", "month", "day", "dayofweek", "dayofyear", "week"]


def _default_numeric() -> list[Step]:
    return [Step(type="simple_imputer", params={"strategy": "median"})]


def _default_categorical() -> list[Step]:
    return [
        Step(type="simple_imputer", params={"strategy": "most_frequent"}),
        Step(type="one_hot_encoder"),
    ]


class Preprocessing(StrictModel):
    """Column-type pipelines, each a list of steps applied in order."""

    numeric: list[Step] = Field(
        default_factory=_default_numeric,
        description="Steps for numeric features (default: median imputation).",
    )
    categorical: list[Step] = Field(
        default_factory=_default_categorical,
        description="Steps for categorical features (default: most-frequent imputation, one-hot "
        "encoding that ignores unknown categories).",
    )
    calendar_features: list[CalendarFeature] = Field(
        default_factory=_default_calendar,
        description="Calendar features derived from the timestamp column for timeseries tasks.",
    )


class Evaluation(StrictModel):
    """Which metrics to compute on the validation and test sets."""

    metrics: list[str] | None = Field(
        default=None,
        description="Metric names or aliases (e.g. rmse, auc); default depends on the task.",
    )


class Recipe(StrictModel):
    """What to train: the task, the estimator, the data and its interface, splits, preprocessing."""

    name: str = Field(description="Recipe name: the MLflow run name and the model's default name.")
    task: Task = Field(
        description="What the model does: " + "; ".join(f"`{t}`: {t.summary}" for t in Task) + "."
    )
    seed: int = Field(default=42, description="Seed for splits and estimators: same seed, same metrics.")
    model: ModelSpec = Field(description="The estimator and its hyperparameters.")
    data: DataSpec = Field(description="Data source, column roles and split.")
    preprocessing: Preprocessing = Field(
        default_factory=Preprocessing, description="Steps applied inside the model pipeline."
    )
    evaluation: Evaluation = Field(default_factory=Evaluation, description="Metrics to compute.")
    monitoring: Monitoring = Field(
        default_factory=Monitoring, description="Reference profile bins and `mmp monitor` alert rules."
    )
    metadata: dict[str, Any] = Field(
        default_factory=dict, description="Free-form tags (owner, description...) logged to MLflow."
    )
    promotion: PromotionPolicy = Field(
        default_factory=PromotionPolicy,
        description="When mmp promote / mmp retrain may move a registry alias to a new version.",
    )

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("use letters, digits, '_', '-' and '.' only")
        return value

    @model_validator(mode="after")
    def _task_rules(self) -> Recipe:
        di = self.data.data_interface
        if not self.task.has_target:
            if di.target_column is not None:
                raise ValueError(f"{self.task} recipes have no target_column")
        elif di.target_column is None:
            raise ValueError(f"data.data_interface.target_column is required for {self.task}")
        if self.task == "timeseries" and di.timestamp_column is None:
            raise ValueError("data.data_interface.timestamp_column is required for timeseries")
        split = self.data.split
        strategy = self.split_strategy
        if strategy == "temporal" and di.timestamp_column is None:
            raise ValueError("data.split.strategy temporal needs data.data_interface.timestamp_column")
        if strategy == "group" and not (split.group_column or di.entity_columns):
            raise ValueError("data.split.strategy group needs group_column or entity_columns")
        if split.stratify and self.task != "classification":
            raise ValueError("data.split.stratify only applies to classification")
        self._check_metrics()
        self._check_estimator_kind()
        return self

    def _check_metrics(self) -> None:
        allowed = registry.metric_names(self.task)
        tuning = self.model.tuning
        if tuning is not None:
            if self.data.split.validation <= 0:
                raise ValueError(
                    "model.tuning scores trials on the validation split: set data.split.validation > 0"
                )
            if tuning.metric is not None and registry.canonical_metric(tuning.metric) not in allowed:
                raise ValueError(
                    f"model.tuning.metric: '{tuning.metric}' does not fit a {self.task} task"
                    f"{did_you_mean(tuning.metric, allowed)}; choose from {', '.join(allowed)}"
                )
        promotion = self.promotion
        for where, name in [
            ("promotion.metric", promotion.metric),
            *(("promotion.guardrails", g.metric) for g in promotion.guardrails),
        ]:
            if name is not None and name not in allowed:
                raise ValueError(
                    f"{where}: '{name}' does not fit a {self.task} task; choose from {', '.join(allowed)}"
                )
        for name in self.evaluation.metrics or []:
            if registry.canonical_metric(name) not in allowed:
                raise ValueError(
                    f"evaluation.metrics: '{name}' does not fit a {self.task} task"
                    f"{did_you_mean(name, allowed)}; choose from {', '.join(allowed)}"
                )

    def _check_estimator_kind(self) -> None:
        estimator = import_class(self.model.class_path)
        kind = _estimator_kind(estimator)
        want = self.task.estimator_kind
        if kind and kind != want:
            raise ValueError(
                f"model.class_path: {estimator.__name__} is a {kind}, but the task {self.task} needs a {want}"
            )

    @property
    def split_strategy(self) -> str:
        if self.data.split.strategy is not None:
            return self.data.split.strategy
        return "temporal" if self.task == "timeseries" else "random"

    @property
    def tuning_metric(self) -> str:
        """The canonical metric tuning optimises: never an alias, so it cannot silently score 0."""
        tuning = self.model.tuning
        chosen = tuning.metric if tuning and tuning.metric else self.metric_names[0]
        return registry.canonical_metric(chosen)

    @property
    def metric_names(self) -> list[str]:
        """The canonical metric names to compute, de-duplicated, in recipe order."""
        names = self.evaluation.metrics or list(registry.default_metrics(self.task))
        return list(dict.fromkeys(registry.canonical_metric(n) for n in names))


class DataSpec(StrictModel):
    """Where the training data comes from, the column roles and the split."""

    source: str | None = Field(
        default=None,
        description="A CSV or Parquet file, a Parquet directory, a .sql file, or an inline SELECT "
        "query (run with the config's SQL connection). Relative paths are relative to the working "
        "directory. --data-path overrides it.",
    )
    data_interface: DataInterface = Field(
        default_factory=DataInterface, description="Which column plays which role."
    )
    split: SplitSpec = Field(default_factory=SplitSpec, description="Train/validation/test split.")


def _estimator_kind(estimator: type) -> str | None:
    """'classifier', 'regressor', 'clusterer' or None, read from scikit-learn's tags."""
    try:
        from sklearn.base import is_classifier, is_regressor
    except ImportError:  # pragma: no cover - scikit-learn is a core dependency
        return None
    try:
        instance = estimator()
    except Exception:  # noqa: BLE001 - estimators without defaults: cannot tell, do not guess
        return None
    try:
        if is_classifier(instance):
            return "classifier"
        if is_regressor(instance):
            return "regressor"
    except Exception:  # noqa: BLE001 - foreign estimators with broken tags
        return None
    return None


Recipe.model_rebuild()
