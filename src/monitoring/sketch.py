"""Mergeable per-column counts over Arrow data: the one summary the reference and every window share.

A `ColumnBins` says how to bucket a column (numeric edges, or a list of levels plus "other"); a
`ColumnCounts` holds what one chunk of rows put in those buckets. Counts of two chunks add up, so a
window is summarised chunk by chunk in bounded memory, and Spark can produce the same numbers.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

Kind = Literal["numeric", "categorical", "boolean"]
OTHER = "__other__"


@dataclass(frozen=True)
class ColumnBins:
    """How one column is bucketed, and what its contract allows (for out-of-range / unseen rates)."""

    kind: Kind
    edges: tuple[float, ...] = ()  # numeric: inner bin edges, bins are (-inf, e0], (e0, e1], ..., (e_n, inf)
    levels: tuple[str, ...] = ()  # categorical/boolean: the reference levels; one more bucket: other
    low: float | None = None  # numeric: contract min/max
    high: float | None = None
    known: frozenset[str] | None = None  # categorical: every level training saw (None: not known)

    @property
    def size(self) -> int:
        return len(self.edges) + 1 if self.kind == "numeric" else len(self.levels) + 1

    def labels(self) -> list[str]:
        if self.kind != "numeric":
            return [*self.levels, "other"]
        if not self.edges:
            return ["all"]
        e = [_short(x) for x in self.edges]
        return [f"≤{e[0]}", *(f"{a}–{b}" for a, b in itertools.pairwise(e)), f">{e[-1]}"]


@dataclass
class ColumnCounts:
    """What some rows put in a column's buckets (mergeable by addition)."""

    counts: list[int]
    rows: int = 0
    missing: int = 0
    outside: int = 0  # numeric: outside the contract range; categorical: a level training never saw
    total: float = 0.0  # numeric moments, for mean/std
    total_sq: float = 0.0
    low: float = math.inf
    high: float = -math.inf
    unseen: dict[str, int] = field(default_factory=dict)  # a few unseen levels, for the report

    @classmethod
    def empty(cls, bins: ColumnBins) -> ColumnCounts:
        return cls(counts=[0] * bins.size)

    def merge(self, other: ColumnCounts) -> None:
        self.counts = [a + b for a, b in zip(self.counts, other.counts, strict=True)]
        self.rows += other.rows
        self.missing += other.missing
        self.outside += other.outside
        self.total += other.total
        self.total_sq += other.total_sq
        self.low = min(self.low, other.low)
        self.high = max(self.high, other.high)
        for level, n in other.unseen.items():
            if level in self.unseen or len(self.unseen) < 20:
                self.unseen[level] = self.unseen.get(level, 0) + n

    @property
    def present(self) -> int:
        return self.rows - self.missing

    def mean(self) -> float | None:
        return self.total / self.present if self.present else None

    def std(self) -> float | None:
        if self.present < 2:
            return None
        mean = self.total / self.present
        var = max(0.0, self.total_sq / self.present - mean * mean)
        return math.sqrt(var * self.present / (self.present - 1))

    def to_dict(self) -> dict[str, Any]:
        return {
            "counts": self.counts,
            "rows": self.rows,
            "missing": self.missing,
            "outside": self.outside,
            "total": self.total,
            "total_sq": self.total_sq,
            "low": self.low if math.isfinite(self.low) else None,
            "high": self.high if math.isfinite(self.high) else None,
            "unseen": self.unseen,
        }


def as_float(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A float64 numpy view of a numeric/boolean Arrow column, nulls as NaN."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_timestamp(array.type) or pa.types.is_date(array.type):
        array = pc.cast(pc.cast(array, pa.timestamp("us")), pa.int64())
    if not pa.types.is_floating(array.type):
        array = pc.cast(array, pa.float64(), safe=False)
    values = array.to_numpy(zero_copy_only=False) if isinstance(array, pa.Array) else array.to_numpy()
    return np.asarray(values, dtype="float64")


def as_text(array: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """The column as strings, the way levels are keyed (booleans as true/false, 3.0 kept as 3.0)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
        return array
    if pa.types.is_dictionary(array.type):
        return pc.cast(array, pa.string())
    return pc.cast(array, pa.string())


def level_text(value: Any) -> str:
    """A level as text, exactly as `as_text` casts it in Arrow (True -> true, 2.0 -> 2, 'a' -> a)."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def count(bins: ColumnBins, array: pa.Array | pa.ChunkedArray) -> ColumnCounts:
    """Bucket one chunk of a column."""
    if bins.kind == "numeric":
        return _count_numeric(bins, array)
    return _count_levels(bins, array)


def _count_numeric(bins: ColumnBins, array: pa.Array | pa.ChunkedArray) -> ColumnCounts:
    import numpy as np

    values = as_float(array)
    nan = np.isnan(values)
    missing = int(nan.sum())
    finite = values[~nan] if missing else values
    out = ColumnCounts.empty(bins)
    out.rows = len(values)
    out.missing = missing
    if len(finite) == 0:
        return out
    # bin index = how many edges lie below the value, i.e. bins (e_i-1, e_i]; with ~10 edges a few
    # vectorised comparisons beat a binary search per value
    index = np.zeros(len(finite), dtype="uint8" if len(bins.edges) < 255 else "int64")
    for edge in bins.edges:
        index += finite > edge
    out.counts = np.bincount(index, minlength=bins.size).tolist()
    out.total = float(finite.sum())
    out.total_sq = float(np.dot(finite, finite))
    out.low = float(finite.min())
    out.high = float(finite.max())
    if bins.low is not None and bins.high is not None and (out.low < bins.low or out.high > bins.high):
        out.outside = int(len(finite) - np.count_nonzero((finite >= bins.low) & (finite <= bins.high)))
    return out


def _count_levels(bins: ColumnBins, array: pa.Array | pa.ChunkedArray) -> ColumnCounts:
    import pyarrow.compute as pc

    out = ColumnCounts.empty(bins)
    out.rows = len(array)
    out.missing = array.null_count
    position = {level: i for i, level in enumerate(bins.levels)}
    other = len(bins.levels)
    tallies = pc.value_counts(as_text(array))
    for level, n in zip(
        tallies.field("values").to_pylist(), tallies.field("counts").to_pylist(), strict=True
    ):
        if level is None:
            continue
        out.counts[position.get(level, other)] += n
        if bins.known is not None and level not in bins.known:
            out.outside += n
            if level in out.unseen or len(out.unseen) < 20:
                out.unseen[level] = out.unseen.get(level, 0) + n
    return out


def numeric_bins(
    values: np.ndarray, n_bins: int, low: float | None = None, high: float | None = None
) -> ColumnBins:
    """Equal-frequency edges from reference values (ties collapse bins, so a flag has one edge)."""
    import numpy as np

    finite = values[~np.isnan(values)]
    if len(finite) == 0:
        return ColumnBins("numeric", (), low=low, high=high)
    quantiles = np.quantile(finite, np.linspace(0, 1, n_bins + 1)[1:-1], method="linear")
    edges = sorted({float(q) for q in quantiles})
    # a bin (e_i, e_i+1]: drop an edge equal to the maximum, it would leave an empty last bin
    edges = [e for e in edges if e < float(finite.max())]
    return ColumnBins("numeric", tuple(edges), low=low, high=high)


def level_bins(
    array: pa.Array | pa.ChunkedArray, cap: int, kind: Kind, known: frozenset[str] | None
) -> ColumnBins:
    """The `cap` most frequent reference levels (ties broken by name, so the choice is stable)."""
    import pyarrow.compute as pc

    tallies = pc.value_counts(as_text(array))
    pairs = [
        (level, n)
        for level, n in zip(
            tallies.field("values").to_pylist(), tallies.field("counts").to_pylist(), strict=True
        )
        if level is not None
    ]
    pairs.sort(key=lambda p: (-p[1], p[0]))
    return ColumnBins(kind, levels=tuple(level for level, _ in pairs[:cap]), known=known)


def _short(x: float) -> str:
    return f"{x:.4g}"
