"""The metric registry: every metric mmp knows, in one table read by every layer.

Each `Metric` holds its canonical name, aliases, direction, what it needs (labels, probabilities
or the feature matrix), the tasks it fits and how to compute it, like scikit-learn's scorer table.
Recipe validation, training's evaluation, tuning, the generated recipe reference and model
comparison all read this table, so a metric added here exists everywhere at once.

The table itself imports nothing heavy (recipes validate instantly); scikit-learn and NumPy are
imported when a metric is computed. A metric is computed from arrays, not from a pipeline, so a
caller can score any rows it likes, e.g. bootstrap resamples of one set of predictions::

    import numpy as np
    from mmp.core.metrics import get_metric, compute_metrics

    auc = get_metric("auc")  # aliases resolve: auc.name == "roc_auc"
    auc.compute(y_true, y_pred, proba, classes=pipeline.classes_)  # float, or None if undefined
    compute_metrics(["accuracy", "log_loss"], y_true, y_pred, proba, classes=classes)  # {name: value}

    rng = np.random.default_rng(0)
    rows = rng.integers(0, len(y_true), len(y_true))  # one bootstrap resample
    auc.compute(y_true[rows], y_pred[rows], proba[rows], classes=classes)

    auc.is_better(0.91, 0.90)  # True: direction-aware comparison (log_loss: lower is better)

`compute` returns None when the metric is undefined on those rows (roc_auc with one class present,
probabilities missing, a clustering with a single cluster): callers decide whether that is an
error (tuning) or a metric simply not logged (training).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from mmp.core.errors import MmpError
from mmp.core.suggest import did_you_mean
from mmp.core.tasks import Task

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

Needs = Literal["labels", "proba", "features"]
"""What a metric reads: predicted labels (`y_pred`), class probabilities (`proba`, one column per
class in `classes` order) or, for clustering, the transformed feature matrix (`features`)."""


@dataclass(frozen=True)
class MetricInputs:
    """The arrays one evaluation has: targets, predictions, probabilities, classes, features."""

    y_true: Any
    y_pred: Any
    proba: Any = None
    classes: Any = None
    features: Any = None


_Compute = Callable[[MetricInputs], float | None]


@dataclass(frozen=True)
class Metric:
    """One metric: its names, direction, needs, tasks and computation."""

    name: str
    description: str
    greater_is_better: bool
    needs: Needs
    tasks: frozenset[Task]
    default_for: frozenset[Task]
    aliases: tuple[str, ...]
    _compute: _Compute

    @property
    def direction(self) -> Literal["maximize", "minimize"]:
        """Optuna's (and any optimiser's) name for the direction of improvement."""
        return "maximize" if self.greater_is_better else "minimize"

    @property
    def needs_proba(self) -> bool:
        return self.needs == "proba"

    def fits(self, task: Task | str) -> bool:
        """Whether the metric is defined for `task`."""
        return Task(task) in self.tasks

    def is_better(self, candidate: float, reference: float) -> bool:
        """True if `candidate` is strictly better than `reference` in this metric's direction."""
        return candidate > reference if self.greater_is_better else candidate < reference

    def compute(
        self,
        y_true: Any,
        y_pred: Any,
        proba: Any = None,
        *,
        classes: Any = None,
        features: Any = None,
    ) -> float | None:
        """The metric on these rows, or None where it is undefined.

        `y_true`/`y_pred`: targets and predicted labels (clustering: `y_true` None, `y_pred` the
        cluster labels). `proba`: `predict_proba` output, columns in `classes` order. `classes`:
        the model's class labels (pass the model's, so every resample scores against the same
        label set; default: the labels present in `y_true`). `features`: the matrix clustering
        metrics measure (the pipeline's transformed inputs).
        """
        import numpy as np

        if self.needs == "proba" and proba is None:
            return None
        if self.needs == "features" and features is None:
            return None
        if y_true is not None and len(y_true) == 0:
            return None
        if Task.classification in self.tasks and classes is None and y_true is not None:
            classes = np.unique(np.asarray(y_true))
        return self._compute(MetricInputs(y_true, y_pred, proba, classes, features))


# --- computations (scikit-learn imported on use) ---------------------------------------------


def _skm() -> Any:
    from sklearn import metrics

    return metrics


def _labels(fn: str, **kwargs: Any) -> _Compute:
    """A classification metric on labels, scored over the model's full label set."""

    def compute(i: MetricInputs) -> float:
        return float(getattr(_skm(), fn)(i.y_true, i.y_pred, labels=list(i.classes), **kwargs))

    return compute


def _plain(fn: str) -> _Compute:
    def compute(i: MetricInputs) -> float:
        return float(getattr(_skm(), fn)(i.y_true, i.y_pred))

    return compute


def _accuracy(i: MetricInputs) -> float:
    return float(_skm().accuracy_score(i.y_true, i.y_pred))


def _balanced_accuracy(i: MetricInputs) -> float:
    return float(_skm().balanced_accuracy_score(i.y_true, i.y_pred))


def _roc_auc(i: MetricInputs) -> float | None:
    import numpy as np

    present = np.unique(np.asarray(i.y_true))
    if len(present) < 2:
        return None
    classes = list(i.classes)
    proba = np.asarray(i.proba)
    if len(classes) == 2:
        return float(_skm().roc_auc_score(i.y_true, proba[:, 1]))
    if len(present) != len(classes):  # one-vs-rest needs every class among the rows
        return None
    return float(_skm().roc_auc_score(i.y_true, proba, multi_class="ovr", labels=classes))


def _log_loss(i: MetricInputs) -> float:
    return float(_skm().log_loss(i.y_true, i.proba, labels=list(i.classes)))


def _rmse(i: MetricInputs) -> float:
    import numpy as np

    return float(np.sqrt(_skm().mean_squared_error(i.y_true, i.y_pred)))


def _r2(i: MetricInputs) -> float:
    # R² of a single row is undefined; scikit-learn would warn and return nan.
    return float(_skm().r2_score(i.y_true, i.y_pred)) if len(i.y_true) > 1 else float("nan")


def _clustering(fn: str) -> _Compute:
    """A clustering metric on the feature matrix; undefined unless 2 <= clusters < rows."""

    def compute(i: MetricInputs) -> float | None:
        import numpy as np

        labels = np.asarray(i.y_pred)
        n_clusters = len(np.unique(labels))
        if n_clusters < 2 or n_clusters >= len(labels):
            return None
        return float(getattr(_skm(), fn)(i.features, labels))

    return compute


# --- the table ---------------------------------------------------------------------------------

_CLS = frozenset({Task.classification})
_REG = frozenset({Task.regression, Task.timeseries})
_CLU = frozenset({Task.clustering})
_NONE: frozenset[Task] = frozenset()


def _metric(
    name: str,
    description: str,
    greater_is_better: bool,
    needs: Needs,
    tasks: frozenset[Task],
    compute: _Compute,
    aliases: Sequence[str] = (),
    default: bool = False,
) -> Metric:
    default_for = tasks if default else _NONE
    return Metric(name, description, greater_is_better, needs, tasks, default_for, tuple(aliases), compute)


_TABLE: tuple[Metric, ...] = (
    # classification
    _metric("accuracy", "Share of rows predicted right.", True, "labels", _CLS, _accuracy, ["acc"], True),
    _metric("balanced_accuracy", "Mean recall over classes.", True, "labels", _CLS, _balanced_accuracy),
    _metric(
        "f1_macro",
        "F1 per class, averaged with equal weight.",
        True,
        "labels",
        _CLS,
        _labels("f1_score", average="macro", zero_division=0),
        ["f1", "macro_f1"],
        True,
    ),
    _metric(
        "f1_weighted",
        "F1 per class, averaged by class frequency.",
        True,
        "labels",
        _CLS,
        _labels("f1_score", average="weighted", zero_division=0),
        ["weighted_f1"],
    ),
    _metric(
        "precision_macro",
        "Precision per class, averaged with equal weight.",
        True,
        "labels",
        _CLS,
        _labels("precision_score", average="macro", zero_division=0),
        ["precision"],
    ),
    _metric(
        "recall_macro",
        "Recall per class, averaged with equal weight.",
        True,
        "labels",
        _CLS,
        _labels("recall_score", average="macro", zero_division=0),
        ["recall"],
    ),
    _metric(
        "roc_auc",
        "Area under the ROC curve (one-vs-rest for more than two classes).",
        True,
        "proba",
        _CLS,
        _roc_auc,
        ["auc", "roc_auc_ovr"],
        True,
    ),
    _metric(
        "log_loss",
        "Cross-entropy of the predicted probabilities.",
        False,
        "proba",
        _CLS,
        _log_loss,
        ["logloss", "cross_entropy"],
        True,
    ),
    # regression and timeseries
    _metric(
        "rmse",
        "Root mean squared error.",
        False,
        "labels",
        _REG,
        _rmse,
        ["root_mean_squared_error", "neg_root_mean_squared_error"],
        True,
    ),
    _metric(
        "mae",
        "Mean absolute error.",
        False,
        "labels",
        _REG,
        _plain("mean_absolute_error"),
        ["mean_absolute_error", "neg_mean_absolute_error"],
        True,
    ),
    _metric("r2", "Coefficient of determination.", True, "labels", _REG, _r2, ["r_squared"], True),
    _metric(
        "mape",
        "Mean absolute percentage error (a fraction, not a percentage).",
        False,
        "labels",
        _REG,
        _plain("mean_absolute_percentage_error"),
        ["mean_absolute_percentage_error"],
        True,
    ),
    _metric(
        "mse",
        "Mean squared error.",
        False,
        "labels",
        _REG,
        _plain("mean_squared_error"),
        ["mean_squared_error", "neg_mean_squared_error"],
    ),
    _metric(
        "median_ae",
        "Median absolute error.",
        False,
        "labels",
        _REG,
        _plain("median_absolute_error"),
        ["median_absolute_error"],
    ),
    # clustering
    _metric(
        "silhouette",
        "Mean silhouette coefficient of the clusters.",
        True,
        "features",
        _CLU,
        _clustering("silhouette_score"),
        ["silhouette_score"],
        True,
    ),
    _metric(
        "davies_bouldin",
        "Davies-Bouldin index (cluster similarity).",
        False,
        "features",
        _CLU,
        _clustering("davies_bouldin_score"),
        ["davies_bouldin_score"],
    ),
    _metric(
        "calinski_harabasz",
        "Calinski-Harabasz index (between- vs within-cluster dispersion).",
        True,
        "features",
        _CLU,
        _clustering("calinski_harabasz_score"),
        ["calinski_harabasz_score"],
    ),
)

METRICS: dict[str, Metric] = {m.name: m for m in _TABLE}
"""Canonical name -> Metric, in the order reference docs and defaults list them."""

ALIASES: dict[str, str] = {alias: m.name for m in _TABLE for alias in m.aliases}
"""Every alias -> its canonical name, so `neg_root_mean_squared_error` or `auc` score what they say."""


def canonical_metric(name: str) -> str:
    """The canonical name of a metric or alias (case-insensitive); unknown names come back lowered."""
    key = name.strip().lower()
    return ALIASES.get(key, key)


def find_metric(name: str) -> Metric | None:
    """The metric a name or alias denotes, or None."""
    return METRICS.get(canonical_metric(name))


def get_metric(name: str, task: Task | str | None = None) -> Metric:
    """The metric a name or alias denotes; an unknown name (or one that does not fit `task`) is an
    MmpError that suggests the closest valid name."""
    metric = find_metric(name)
    choices = metric_names(task) if task is not None else tuple(METRICS)
    if metric is None or (task is not None and not metric.fits(task)):
        fit = f" for a {task} task" if task is not None else ""
        raise MmpError(
            f"unknown metric '{name}'{fit}{did_you_mean(name, [*choices, *ALIASES])}",
            f"choose from {', '.join(choices)}",
        )
    return metric


def metrics_for(task: Task | str) -> tuple[Metric, ...]:
    """Every metric that fits `task`, in table order."""
    return tuple(m for m in _TABLE if m.fits(task))


def metric_names(task: Task | str) -> tuple[str, ...]:
    return tuple(m.name for m in metrics_for(task))


def default_metrics(task: Task | str) -> tuple[str, ...]:
    """What training computes when a recipe names no metrics; the first is what tuning optimises."""
    return tuple(m.name for m in _TABLE if Task(task) in m.default_for)


def compute_metrics(
    names: Iterable[str],
    y_true: npt.ArrayLike | None,
    y_pred: npt.ArrayLike,
    proba: npt.ArrayLike | None = None,
    *,
    classes: Sequence[Any] | np.ndarray | None = None,
    features: Any = None,
) -> dict[str, float]:
    """Every named metric (names or aliases) that is defined on these rows, keyed by canonical name.

    Undefined ones (see `Metric.compute`) are left out rather than reported as 0.
    """
    out: dict[str, float] = {}
    for name in names:
        metric = get_metric(name)
        value = metric.compute(y_true, y_pred, proba, classes=classes, features=features)
        if value is not None:
            out[metric.name] = value
    return out
