"""Metrics with bootstrap intervals in one streaming pass, in memory that does not grow with rows.

Each row gets `1 + B` weights: 1 for the plain estimate, then B Poisson(1) draws (the Poisson
bootstrap, which needs no second pass over the data). Every supported metric is a function of
weighted *sums* — error moments for regression, a confusion matrix, the log loss, and per-class
score histograms for ROC AUC — so a chunk adds `W.T @ features` to running totals and is then
forgotten. The weights of a row depend only on the seed and the row's position, so two models
scored on the same rows get the same replicates: their difference is a *paired* bootstrap.

ROC AUC is computed from 1,000-bin score histograms (ties inside a bin count one half), which
differs from the exact value by well under 0.001 for realistic scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mmp.core.errors import MmpError
from mmp.recipe.promotion import STREAMING_METRICS

if TYPE_CHECKING:
    import numpy as np

AUC_BINS = 1000
BLOCK_ROWS = 8192
PROBABILITY_METRICS = ("roc_auc", "log_loss")
_LUT_BITS = 16
_EPS = float.fromhex("0x1.0p-52")  # sklearn's mape guards |y| with float64 eps


def supported(task: str, metrics: list[str]) -> list[str]:
    """`metrics` if each can be streamed for `task`; a one-line error naming the first that cannot."""
    from mmp.core.metrics import metric_names

    allowed = metric_names(task)
    if task == "clustering":
        raise MmpError("mmp evaluate needs labels: clustering models cannot be evaluated or promoted")
    for name in metrics:
        if name not in allowed:
            raise MmpError(
                f"the metric '{name}' does not fit a {task} model",
                f"choose from {', '.join(m for m in allowed if m in STREAMING_METRICS)}",
            )
        if name not in STREAMING_METRICS:
            raise MmpError(
                f"the metric '{name}' cannot be computed in one streaming pass",
                f"choose from {', '.join(m for m in allowed if m in STREAMING_METRICS)}",
            )
    return metrics


def _poisson_table() -> np.ndarray:
    """Poisson(1) quantiles at 2**16 evenly spaced probabilities: a uniform uint16 draw -> a weight."""
    import math

    import numpy as np

    size = 1 << _LUT_BITS
    cdf = np.cumsum([math.exp(-1) / math.factorial(k) for k in range(20)])
    u = (np.arange(size) + 0.5) / size
    return np.searchsorted(cdf, u).astype(np.float64)


_TABLE: np.ndarray | None = None


def bootstrap_weights(seed: int, first_row: int, rows: int, replicates: int) -> np.ndarray:
    """(rows, 1 + replicates) weights: a column of ones, then Poisson(1) draws fixed by seed and row."""
    import numpy as np

    global _TABLE
    if _TABLE is None:
        _TABLE = _poisson_table()
    rng = np.random.default_rng([seed, first_row])
    draws = rng.integers(0, 1 << _LUT_BITS, size=(rows, replicates), dtype=np.uint16)
    weights = np.empty((rows, replicates + 1), dtype=np.float64)
    weights[:, 0] = 1.0
    np.take(_TABLE, draws, out=weights[:, 1:])
    return weights


@dataclass
class Layout:
    """How a task's rows become dense features and sparse cells (all metrics are their sums)."""

    task: str
    classes: int  # 0 for regression
    probabilities: bool
    auc: bool

    @property
    def dense(self) -> int:
        return 7 if self.classes == 0 else 2

    @property
    def cells(self) -> int:
        if self.classes == 0:
            return 0
        k = self.classes
        return k * k + (k * 2 * AUC_BINS if self.auc else 0)


class Totals:
    """Running weighted sums for `groups` groups × `replicates + 1` weight columns."""

    def __init__(self, layout: Layout, replicates: int, groups: int = 1) -> None:
        import numpy as np

        self.layout = layout
        self.replicates = replicates
        self.dense = np.zeros((groups, replicates + 1, layout.dense))
        self.cells = np.zeros((groups, replicates + 1, layout.cells))

    def grow(self, groups: int) -> None:
        import numpy as np

        extra = groups - self.dense.shape[0]
        if extra > 0:
            pad = ((0, extra), (0, 0), (0, 0))
            self.dense = np.pad(self.dense, pad)
            self.cells = np.pad(self.cells, pad)

    def add(self, dense: np.ndarray, cells: np.ndarray | None, weights: np.ndarray | None) -> None:
        """One block of rows into group 0, with (rows, 1 + B) `weights` (None: all ones, no replicates)."""
        import numpy as np

        if weights is None:
            self.dense[0, 0] += dense.sum(axis=0)
            if cells is not None:
                self.cells[0, 0] += np.bincount(cells.ravel(), minlength=self.layout.cells)
            return
        self.dense[0] += weights.T @ dense
        if cells is not None:
            from scipy import sparse

            n, m = cells.shape
            rows = np.repeat(np.arange(n), m)
            onehot = sparse.csr_matrix((np.ones(n * m), (cells.ravel(), rows)), shape=(self.layout.cells, n))
            self.cells[0] += (onehot @ weights).T

    def add_grouped(self, dense: np.ndarray, cells: np.ndarray | None, groups: np.ndarray) -> None:
        """Point sums (no replicates) per group code."""
        import numpy as np

        g = self.dense.shape[0]
        for j in range(dense.shape[1]):
            self.dense[:, 0, j] += np.bincount(groups, weights=dense[:, j], minlength=g)
        if cells is not None:
            size = self.layout.cells
            flat = (groups[:, None] * size + cells).ravel()
            self.cells[:, 0, :] += np.bincount(flat, minlength=g * size).reshape(g, size)

    def merged(self, groups: list[int]) -> Totals:
        out = Totals(self.layout, self.replicates, 1)
        out.dense[0] = self.dense[groups].sum(axis=0)
        out.cells[0] = self.cells[groups].sum(axis=0)
        return out

    def group(self, index: int) -> Totals:
        return self.merged([index])

    def rows(self) -> np.ndarray:
        """Weighted row count per group (column 0: the real count)."""
        return self.dense[:, 0, 0]

    def values(self, metric: str, group: int = 0) -> np.ndarray:
        """The metric for each weight column of one group: [estimate, replicate 1, ..., replicate B]."""
        dense, cells = self.dense[group], self.cells[group]
        if self.layout.classes == 0:
            return _regression(metric, dense)
        return _classification(metric, dense, cells, self.layout)


def features(layout: Layout, y: np.ndarray, pred: np.ndarray, proba: np.ndarray | None) -> tuple[Any, Any]:
    """(dense, cells) of a block. Classification `y`/`pred` are class indices; `proba` is (n, K)."""
    import numpy as np

    n = len(y)
    if layout.classes == 0:
        y = y.astype(np.float64)
        e = pred.astype(np.float64) - y
        a = np.abs(e)
        dense = np.column_stack([np.ones(n), e, e * e, a, a / np.maximum(np.abs(y), _EPS), y, y * y])
        return dense, None
    k = layout.classes
    nll = np.zeros(n)
    if proba is not None:
        p = np.clip(proba[np.arange(n), y], 1e-15, 1.0)
        # sklearn renormalises rows before the log loss; do the same so both agree.
        p = p / np.clip(proba.sum(axis=1), 1e-15, None)
        nll = -np.log(p)
    dense = np.column_stack([np.ones(n), nll])
    columns = [(y * k + pred)[:, None]]
    if layout.auc and proba is not None:
        bins = np.clip((proba * AUC_BINS).astype(np.int64), 0, AUC_BINS - 1)  # (n, K)
        positive = (y[:, None] == np.arange(k)[None, :]).astype(np.int64)
        offsets = k * k + np.arange(k)[None, :] * 2 * AUC_BINS
        columns.append(offsets + positive * AUC_BINS + bins)
    return dense, np.concatenate(columns, axis=1)


def _regression(metric: str, s: np.ndarray) -> np.ndarray:
    import numpy as np

    with np.errstate(divide="ignore", invalid="ignore"):
        w = s[:, 0]
        mse = s[:, 2] / w
        if metric == "mse":
            return mse
        if metric == "rmse":
            return np.sqrt(mse)
        if metric == "mae":
            return s[:, 3] / w
        if metric == "mape":
            return s[:, 4] / w
        if metric == "r2":
            total = s[:, 6] - s[:, 5] ** 2 / w
            return 1.0 - s[:, 2] / total
    raise KeyError(metric)


def _classification(metric: str, dense: np.ndarray, cells: np.ndarray, layout: Layout) -> np.ndarray:
    import numpy as np

    k = layout.classes
    with np.errstate(divide="ignore", invalid="ignore"):
        if metric == "log_loss":
            return dense[:, 1] / dense[:, 0]
        if metric == "roc_auc":
            return _auc(cells[:, k * k :].reshape(-1, k, 2, AUC_BINS))
        confusion = cells[:, : k * k].reshape(-1, k, k)  # [replicate, true, predicted]
        total = confusion.sum(axis=(1, 2))
        tp = np.diagonal(confusion, axis1=1, axis2=2)
        support = confusion.sum(axis=2)
        predicted = confusion.sum(axis=1)
        if metric == "accuracy":
            return tp.sum(axis=1) / total
        recall = np.where(support > 0, tp / np.where(support > 0, support, 1), 0.0)
        precision = np.where(predicted > 0, tp / np.where(predicted > 0, predicted, 1), 0.0)
        if metric == "recall_macro":
            return recall.mean(axis=1)
        if metric == "precision_macro":
            return precision.mean(axis=1)
        if metric == "balanced_accuracy":
            present = support > 0
            return (recall * present).sum(axis=1) / present.sum(axis=1)
        denominator = precision + recall
        f1 = np.where(denominator > 0, 2 * precision * recall / np.where(denominator > 0, denominator, 1), 0)
        if metric == "f1_macro":
            return f1.mean(axis=1)
        if metric == "f1_weighted":
            return (f1 * support).sum(axis=1) / support.sum(axis=1)
    raise KeyError(metric)


def _auc(hist: np.ndarray) -> np.ndarray:
    """One-vs-rest macro AUC from per-class histograms [replicate, class, negative/positive, bin]."""
    import numpy as np

    negative, positive = hist[:, :, 0, :], hist[:, :, 1, :]
    below = np.cumsum(negative, axis=2) - negative  # negatives in lower bins
    wins = (positive * (below + 0.5 * negative)).sum(axis=2)
    pairs = positive.sum(axis=2) * negative.sum(axis=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_class = wins / pairs
    if hist.shape[1] == 2:
        return per_class[:, 1]
    return per_class.mean(axis=1)
