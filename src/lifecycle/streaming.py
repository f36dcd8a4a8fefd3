"""Metrics with bootstrap intervals in one streaming pass, in memory that does not grow with rows.

Each row gets B Poisson(1) weights (the Poisson bootstrap, which needs no second pass over the
data; the plain estimate is the unweighted sum). Every supported metric is a function of weighted
*sums* — error moments for regression, a confusion matrix, the log loss, and per-class score
histograms for ROC AUC — so a block of rows adds `W.T @ features` to running totals and is then
forgotten. The weights of a row depend only on the seed and the row's position, so two models
scored on the same rows get the same replicates: their difference is a *paired* bootstrap.

Cost: the weights are drawn from PCG64's raw 64-bit output cut into four 16-bit uniforms, each
mapped to its Poisson(1) quantile through a 65,536-entry table (float32; exact for these small
integers), once per block for every model in the pass. A block's discrete features (confusion
cells, score-histogram bins) are summed per replicate by one sparse product over the cells the
block touches; a binary classifier's confusion cell and positive-class score bin are one joint
cell, so each row touches exactly one.

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
BLOCK_ROWS = 2048  # rows x 200 float32 weights stay in a core's cache
PROBABILITY_METRICS = ("roc_auc", "log_loss")
_LUT_BITS = 16
_FLUSH_ROWS = 1 << 20  # x the largest weight (8) stays below 2**24
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
    return np.searchsorted(cdf, u).astype(np.float32)


_TABLE: np.ndarray | None = None


def bootstrap_weights(seed: int, first_row: int, rows: int, replicates: int) -> np.ndarray:
    """(rows, replicates) float32 Poisson(1) weights, fixed by the seed and the first row's position."""
    import numpy as np

    global _TABLE
    if _TABLE is None:
        _TABLE = _poisson_table()
    count = rows * replicates
    raw = np.random.PCG64([seed, first_row]).random_raw((count + 3) // 4)
    draws = raw.view(np.uint16)[:count].reshape(rows, replicates)
    return np.take(_TABLE, draws)


@dataclass
class Layout:
    """How a task's rows become dense features and sparse cells (all metrics are their sums).

    Cells of a classifier: the confusion matrix (true x predicted), then, for ROC AUC, per-class
    score histograms (class x negative/positive x bin). A binary classifier's AUC needs only the
    positive class's histogram, and whether a row is positive is its true class: its confusion cell
    and its score bin are one joint cell (true x predicted x bin), one per row.
    """

    task: str
    classes: int  # 0 for regression
    probabilities: bool
    auc: bool

    @property
    def dense(self) -> int:
        return 7 if self.classes == 0 else 2

    @property
    def joint(self) -> bool:
        return self.classes == 2 and self.auc

    @property
    def cells(self) -> int:
        if self.classes == 0:
            return 0
        k = self.classes
        if self.joint:
            return k * k * AUC_BINS
        return k * k + (k * 2 * AUC_BINS if self.auc else 0)

    def confusion(self, cells: np.ndarray) -> np.ndarray:
        """[replicate, true, predicted] counts from (replicates, cells) sums."""
        k = self.classes
        if self.joint:
            return cells.reshape(-1, k, k, AUC_BINS).sum(axis=3)
        return cells[:, : k * k].reshape(-1, k, k)

    def histograms(self, cells: np.ndarray) -> np.ndarray:
        """[replicate, class, negative/positive, bin] score histograms (binary: the positive class)."""
        import numpy as np

        k = self.classes
        if self.joint:
            by_truth = cells.reshape(-1, k, k, AUC_BINS).sum(axis=2)  # [replicate, true, bin]
            return np.stack([by_truth[:, 0], by_truth[:, 1]], axis=1)[:, None]
        return cells[:, k * k :].reshape(-1, k, 2, AUC_BINS)


class Totals:
    """Running weighted sums for `groups` groups x `replicates + 1` weight columns (column 0: the
    unweighted estimate, then one column per bootstrap replicate). Cells are stored cell-major
    (group, cell, column), so a block adds each touched cell's replicates as one contiguous row."""

    def __init__(self, layout: Layout, replicates: int, groups: int = 1) -> None:
        import numpy as np

        self.layout = layout
        self.replicates = replicates
        self.dense = np.zeros((groups, replicates + 1, layout.dense))
        self.cells = np.zeros((groups, layout.cells, replicates + 1))
        # Group 0's replicate cell sums since the last flush, in float32 (exact integers while
        # below 2**24: flushed every `_FLUSH_ROWS` rows, each row adding a weight <= the table's max).
        self._pending = np.zeros((layout.cells, replicates), dtype=np.float32) if replicates else None
        self._pending_rows = 0

    def _flush(self) -> None:
        if self._pending is not None and self._pending_rows:
            self.cells[0, :, 1:] += self._pending
            self._pending[:] = 0
            self._pending_rows = 0

    def grow(self, groups: int) -> None:
        import numpy as np

        self._flush()
        extra = groups - self.dense.shape[0]
        if extra > 0:
            pad = ((0, extra), (0, 0), (0, 0))
            self.dense = np.pad(self.dense, pad)
            self.cells = np.pad(self.cells, pad)

    def add(self, dense: np.ndarray, cells: np.ndarray | None, weights: np.ndarray | None) -> None:
        """One block of rows into group 0, with (rows, B) replicate `weights` (None: no replicates)."""
        import numpy as np

        self.dense[0, 0] += dense.sum(axis=0)
        if cells is not None:
            self.cells[0, :, 0] += np.bincount(cells.ravel(), minlength=self.layout.cells)
        if weights is None:
            return
        if self.layout.classes:
            # Row counts (exact) and log losses: float32 products are plenty.
            self.dense[0, 1:] += weights.T @ dense.astype(np.float32)
        else:
            # float64: r2 subtracts large sums of squares.
            self.dense[0, 1:] += weights.T.astype(np.float64) @ dense
        if cells is not None:
            from scipy import sparse

            n, m = cells.shape
            touched, local = np.unique(cells.ravel(), return_inverse=True)
            rows = np.repeat(np.arange(n), m)
            onehot = sparse.csr_matrix(
                (np.ones(n * m, dtype=np.float32), (local.ravel(), rows)), shape=(len(touched), n)
            )
            assert self._pending is not None, "replicate weights for totals without replicates"
            self._pending[touched] += np.asarray(onehot @ weights)
            self._pending_rows += n
            if self._pending_rows >= _FLUSH_ROWS:
                self._flush()

    def add_grouped(self, dense: np.ndarray, cells: np.ndarray | None, groups: np.ndarray) -> None:
        """Point sums (no replicates) per group code."""
        import numpy as np

        g = self.dense.shape[0]
        for j in range(dense.shape[1]):
            self.dense[:, 0, j] += np.bincount(groups, weights=dense[:, j], minlength=g)
        if cells is not None:
            size = self.layout.cells
            flat = (groups[:, None] * size + cells).ravel()
            self.cells[:, :, 0] += np.bincount(flat, minlength=g * size).reshape(g, size)

    def merged(self, groups: list[int]) -> Totals:
        self._flush()
        out = Totals(self.layout, self.replicates, 1)
        out.dense[0] = self.dense[groups].sum(axis=0)
        out.cells[0] = self.cells[groups].sum(axis=0)
        return out

    def group(self, index: int) -> Totals:
        return self.merged([index])

    def rows(self) -> np.ndarray:
        """Weighted row count per group (column 0: the real count)."""
        self._flush()
        return self.dense[:, 0, 0]

    def values(self, metric: str, group: int = 0) -> np.ndarray:
        """The metric for each weight column of one group: [estimate, replicate 1, ..., replicate B]."""
        self._flush()
        dense, cells = self.dense[group], self.cells[group].T
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
    if layout.joint:
        assert proba is not None, "ROC AUC needs probabilities"
        bins = np.clip((proba[:, 1] * AUC_BINS).astype(np.int64), 0, AUC_BINS - 1)
        return dense, ((y * k + pred) * AUC_BINS + bins)[:, None]
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

    with np.errstate(divide="ignore", invalid="ignore"):
        if metric == "log_loss":
            return dense[:, 1] / dense[:, 0]
        if metric == "roc_auc":
            return _auc(layout.histograms(cells))
        confusion = layout.confusion(cells)  # [replicate, true, predicted]
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
    if hist.shape[1] == 1:  # binary: the positive class's histogram only
        return per_class[:, 0]
    return per_class.mean(axis=1)
