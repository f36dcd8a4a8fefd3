"""The numeric preprocessing most recipes use, without scikit-learn's per-call overhead.

A served micro-batch of 1–32 rows spends ~2.7 ms in `ColumnTransformer.transform`, whatever its row
count; the arithmetic is microseconds of it. The rest is input validation, pandas column selection,
estimator tags and output wrapping, paid once per call and once per step. With two server workers
each worker's micro-batches are half as big, so this fixed cost is what keeps two workers from
doubling one worker's throughput.

`compile_preprocessing` turns a fitted preprocessing `Pipeline`/`ColumnTransformer` made only of
the steps in `_KERNELS` into a plan that performs the same numpy operations, in the same order, on
the same float64 values as each step's own `transform` (scikit-learn 1.9), so its output is the same
array bit for bit. Before a plan is used it is checked bit for bit against scikit-learn on probe
rows (missing values, zeros, signs, extremes); a plan that differs, a step it does not know, or a
setting it does not mirror (an indicator column, a dropped empty feature, sparse or pandas output)
means no plan: the pipeline keeps scikit-learn's path. At call time, a column of another dtype than
the plan reads (text, booleans, dates, float32) sends that call to scikit-learn too.

Nothing here changes what a model answers; it only changes how long a small request takes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

logger = logging.getLogger(__name__)

Kernel = Callable[["np.ndarray"], "np.ndarray"]


@dataclass(frozen=True)
class Branch:
    """One ColumnTransformer entry: the input columns it reads and its steps, in order."""

    columns: tuple[str, ...]
    kernels: tuple[Kernel, ...]


@dataclass(frozen=True)
class Plan:
    """A compiled preprocessing: `transform(X)` equals the fitted pipeline's `transform(X)`."""

    branches: tuple[Branch, ...]
    inputs: tuple[str, ...]  # the columns the ColumnTransformer was fitted on (the probe's columns)

    def transform(self, X: pd.DataFrame) -> np.ndarray | None:
        """The transformed matrix, or None when scikit-learn must take this call: a column that is
        not a plain number column, no rows, or an infinite value where a step would check its input
        (scikit-learn refuses those with its own error, which is then the one the caller sees)."""
        import numpy as np

        if len(X) == 0:
            return None
        matrix = _float_matrix(X)
        if matrix is None:
            return None
        position = {name: i for i, name in enumerate(X.columns)}
        outputs = []
        for branch in self.branches:
            try:
                indexes = [position[name] for name in branch.columns]
            except KeyError:
                return None
            # A new column-major block (fancy indexing copies, once): the layout pandas hands
            # scikit-learn, so the final estimator's matrix product sums in the same order.
            block = np.ascontiguousarray(matrix.T[indexes]).T
            for kernel in branch.kernels:
                if np.isinf(block).any():  # every step's input check (`allow-nan`) refuses these
                    return None
                block = kernel(block)
            outputs.append(block)
        return np.hstack(outputs)


def compile_preprocessing(preprocessing: Any) -> Plan | None:
    """A plan equal to `preprocessing.transform` bit for bit, or None (see the module docstring)."""
    try:
        plan = _plan(preprocessing)
    except Exception:  # an unexpected estimator layout: never worth failing a model load for
        logger.debug("no compiled preprocessing", exc_info=True)
        return None
    if plan is None or not _agrees(plan, preprocessing):
        return None
    return plan


def _plan(preprocessing: Any) -> Plan | None:
    from sklearn import get_config
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    if get_config().get("transform_output", "default") != "default":
        return None
    transformer = preprocessing
    if isinstance(transformer, Pipeline):
        if len(transformer.steps) != 1 or _wraps_output(transformer):
            return None
        transformer = transformer.steps[0][1]
    if not isinstance(transformer, ColumnTransformer) or _wraps_output(transformer):
        return None
    if getattr(transformer, "sparse_output_", True) or not hasattr(transformer, "feature_names_in_"):
        return None
    branches = []
    for _name, fitted, columns in transformer.transformers_:
        if isinstance(fitted, str) and fitted == "drop":
            continue
        if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
            return None
        if not columns:
            continue
        steps = fitted.steps if isinstance(fitted, Pipeline) else [("", fitted)]
        if isinstance(fitted, Pipeline) and _wraps_output(fitted):
            return None
        kernels = [_kernel(step) for _, step in steps]
        if not kernels or any(k is None for k in kernels) or _keeps_input_dtype(steps[-1][1]):
            return None
        branches.append(Branch(tuple(columns), tuple(k for k in kernels if k is not None)))
    inputs = tuple(str(name) for name in transformer.feature_names_in_)
    return Plan(tuple(branches), inputs) if branches else None


def _wraps_output(estimator: Any) -> bool:
    """`set_output(transform="pandas"/"polars")` on this estimator: its output is not an array."""
    config = getattr(estimator, "_sklearn_output_config", None) or {}
    return bool(config.get("transform", "default") != "default")


def _keeps_input_dtype(step: Any) -> bool:
    """A most_frequent/constant imputer keeps integer input as integers: as a branch's last step
    its output dtype would differ from the plan's float64, so such a branch is not compiled."""
    from sklearn.impute import SimpleImputer

    return isinstance(step, SimpleImputer) and step.strategy in ("most_frequent", "constant")


def _kernel(step: Any) -> Kernel | None:
    kind = type(step)
    build = _KERNELS.get(kind.__name__)
    if build is None or not kind.__module__.startswith("sklearn.") or _wraps_output(step):
        return None
    return build(step)


def _simple_imputer(step: Any) -> Kernel | None:
    """`SimpleImputer.transform` on dense float64 input: each NaN becomes its column's statistic."""
    import numpy as np

    if step.add_indicator:
        return None
    missing = step.missing_values
    if not (isinstance(missing, float) and missing != missing):  # only NaN marks a missing value
        return None
    statistics = np.asarray(step.statistics_)
    numbers = statistics.dtype.kind in "fiu" or (  # a constant fill keeps an object array
        statistics.dtype.kind == "O"
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in statistics)
    )
    if not numbers:
        return None
    fill = statistics.astype(np.float64)
    if np.isnan(fill).any():  # scikit-learn drops (or keeps) features with no observed value
        return None

    def impute(X: np.ndarray) -> np.ndarray:
        missing = np.isnan(X)
        if missing.any():
            np.copyto(X, fill, where=missing)
        return X

    return impute


def _standard_scaler(step: Any) -> Kernel | None:
    """`StandardScaler.transform` on dense float64 input: `X -= mean_`, then `X /= scale_`."""
    return _centre_then_divide(step.mean_ if step.with_mean else None, step.scale_ if step.with_std else None)


def _robust_scaler(step: Any) -> Kernel | None:
    """`RobustScaler.transform` on dense float64 input: `X -= center_`, then `X /= scale_`."""
    return _centre_then_divide(
        step.center_ if step.with_centering else None, step.scale_ if step.with_scaling else None
    )


def _centre_then_divide(centre: Any, scale: Any) -> Kernel:
    import numpy as np

    shift = None if centre is None else np.asarray(centre, dtype=np.float64)
    divide = None if scale is None else np.asarray(scale, dtype=np.float64)

    def centre_then_divide(X: np.ndarray) -> np.ndarray:
        if shift is not None:
            X -= shift
        if divide is not None:
            X /= divide
        return X

    return centre_then_divide


def _min_max_scaler(step: Any) -> Kernel | None:
    """`MinMaxScaler.transform` on dense float64 input: `X *= scale_`, `X += min_`, then the clip."""
    import numpy as np

    scale = np.asarray(step.scale_, dtype=np.float64)
    offset = np.asarray(step.min_, dtype=np.float64)
    low, high = (float(v) for v in step.feature_range)

    def min_max(X: np.ndarray) -> np.ndarray:
        X *= scale
        X += offset
        if step.clip:
            np.clip(X, low, high, out=X)
        return X

    return min_max


def _max_abs_scaler(step: Any) -> Kernel | None:
    """`MaxAbsScaler.transform` on dense float64 input: `X /= scale_`, then the clip."""
    import numpy as np

    scale = np.asarray(step.scale_, dtype=np.float64)

    def max_abs(X: np.ndarray) -> np.ndarray:
        X /= scale
        if step.clip:
            np.clip(X, -1.0, 1.0, out=X)
        return X

    return max_abs


# scikit-learn's own classes (not subclasses, which may override `transform`), by class name.
_KERNELS: dict[str, Callable[[Any], Kernel | None]] = {
    "SimpleImputer": _simple_imputer,
    "StandardScaler": _standard_scaler,
    "RobustScaler": _robust_scaler,
    "MinMaxScaler": _min_max_scaler,
    "MaxAbsScaler": _max_abs_scaler,
}


_PLAIN = frozenset({"float64", "int64"})
_NULLABLE = frozenset({"float64", "int64", "Float64", "Int64"})  # conformance's nullable numbers


def _float_matrix(X: pd.DataFrame) -> np.ndarray | None:
    """The frame as float64, converted as scikit-learn's `check_array` converts it (a missing value
    becomes NaN), or None if a column has another dtype: narrower types change scikit-learn's
    working dtype (float32 stays float32), and text, booleans and dates are not numbers."""
    import numpy as np

    dtypes = {str(dtype) for dtype in X.dtypes}
    if dtypes <= _PLAIN:
        matrix: np.ndarray = X.to_numpy(dtype=np.float64)
        return matrix
    if dtypes <= _NULLABLE:
        matrix = X.to_numpy(dtype=np.float64, na_value=np.nan)
        return matrix
    return None


_PROBE_VALUES = (0.0, -0.0, 1.0, -1.0, 0.5, -2.75, 1e-12, -3.1e7, 123456.789, 1e300, float("nan"))


def _agrees(plan: Plan, preprocessing: Any) -> bool:
    """The plan's output equals scikit-learn's bit for bit on probe rows of every column."""
    import warnings

    import numpy as np
    import pandas as pd

    names = plan.inputs
    rng = np.random.default_rng(0)
    rows = len(_PROBE_VALUES) + 16
    data = {}
    for j, name in enumerate(names):
        shifted = np.roll(np.asarray(_PROBE_VALUES), j)
        noise = rng.normal(0.0, 10.0 ** rng.integers(-3, 5), 16)
        data[name] = np.concatenate([shifted, noise])
    probe = pd.DataFrame(data, index=pd.RangeIndex(rows))
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = preprocessing.transform(probe)
        ours = plan.transform(probe)
        one_row = plan.transform(probe.iloc[[1]])
        expected_one = preprocessing.transform(probe.iloc[[1]])
    same = (
        ours is not None
        and one_row is not None
        and _identical(ours, expected)
        and _identical(one_row, expected_one)
    )
    if not same:
        logger.info("compiled preprocessing differs from scikit-learn's; using scikit-learn's")
    return same


def _identical(ours: np.ndarray, expected: Any) -> bool:
    import numpy as np

    if not isinstance(expected, np.ndarray) or expected.dtype != ours.dtype:
        return False
    if expected.shape != ours.shape or expected.strides != ours.strides:
        return False
    return bool(np.array_equal(ours.view(np.uint64), expected.view(np.uint64)))
