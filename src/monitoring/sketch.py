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

    if pa.types.is_string(array.type):
        return array
    return pc.cast(array, pa.string())  # large_string too: one key type joins with another


def level_text(value: Any) -> str:
    """A level as text, exactly as `as_text` casts it in Arrow (True -> true, 2.0 -> 2, 'a' -> a)."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def count(bins: ColumnBins, array: pa.Array | pa.ChunkedArray | np.ndarray) -> ColumnCounts:
    """Bucket one chunk of a column (an Arrow array, or float64 values with NaN for missing)."""
    if bins.kind == "numeric":
        return _count_numeric(bins, array)
    return _count_levels(bins, array)


def _count_numeric(bins: ColumnBins, array: pa.Array | pa.ChunkedArray | np.ndarray) -> ColumnCounts:
    import numpy as np

    values = array if isinstance(array, np.ndarray) else as_float(array)
    out = ColumnCounts.empty(bins)
    out.rows = len(values)
    if out.rows == 0:
        return out
    # the sum is the cheapest NaN test: it is finite exactly when every value is (nulls are NaN here)
    total = float(values.sum())
    if math.isfinite(total):
        finite = values
    else:
        nan = np.isnan(values)
        out.missing = int(np.count_nonzero(nan))
        finite = values[~nan] if out.missing else values
        if len(finite) == 0:
            return out
        total = float(finite.sum())
    # bins are (e_i-1, e_i] with ascending edges: a bin's count is the difference of how many values
    # lie above its two edges, so one comparison and one count per edge do it (no index array, no
    # bincount; both would hold the GIL or cost passes over the data)
    above = np.empty(len(finite), dtype=bool)
    over = [len(finite)]
    for edge in bins.edges:
        np.greater(finite, edge, out=above)
        over.append(int(np.count_nonzero(above)))
    over.append(0)
    out.counts = [a - b for a, b in itertools.pairwise(over)]
    out.total = total
    # not np.dot: BLAS would spin up its threads for a dot product (slow on a busy machine)
    out.total_sq = float(np.square(finite).sum())
    out.low = float(finite.min())
    out.high = float(finite.max())
    if bins.low is not None and bins.high is not None and (out.low < bins.low or out.high > bins.high):
        out.outside = int(len(finite) - np.count_nonzero((finite >= bins.low) & (finite <= bins.high)))
    return out


def level_tallies(array: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, np.ndarray]:
    """(distinct values as text, their counts) of a column, nulls left out.

    Dictionary arrays (how Parquet stores text) are counted on their indices and only the
    dictionary is cast to text; other arrays are counted in their own type, then the few distinct
    values are cast. Either way no per-row string is built.
    """
    import numpy as np
    import pyarrow as pa

    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks() if array.num_chunks != 1 else array.chunk(0)
    if array.null_count and (pa.types.is_dictionary(array.type) or pa.types.is_integer(array.type)):
        array = array.drop_null()  # nulls are counted as missing by the caller
    if pa.types.is_dictionary(array.type):
        # counted on the indices, then only the dictionary is cast to text
        values = as_text(array.dictionary)
        counts = np.bincount(array.indices.to_numpy(zero_copy_only=False), minlength=len(values))
    elif pa.types.is_integer(array.type) and array.type != pa.uint64() and len(array):
        # small-range integers (class labels): a bincount, no hash table
        numbers = array.to_numpy(zero_copy_only=False).astype("int64", copy=False)
        low, high = int(numbers.min()), int(numbers.max())
        if high - low < 1 << 16:
            tally = np.bincount(numbers - low if low else numbers)
            used = np.flatnonzero(tally)
            return as_text(pa.array(used + low, type=array.type)), tally[used]
        return _hashed_tallies(array)
    else:
        return _hashed_tallies(array)
    if values.null_count:
        counts = np.where(np.asarray(values.is_valid().to_numpy(zero_copy_only=False)), counts, 0)
    return values, counts


def _hashed_tallies(array: pa.Array) -> tuple[pa.Array, np.ndarray]:
    import numpy as np
    import pyarrow.compute as pc

    tallies = pc.value_counts(array)
    values = as_text(tallies.field("values"))
    counts = np.asarray(tallies.field("counts").to_numpy(zero_copy_only=False), dtype="int64")
    if values.null_count:
        counts = np.where(np.asarray(values.is_valid().to_numpy(zero_copy_only=False)), counts, 0)
    return values, counts


def _count_levels(bins: ColumnBins, array: pa.Array | pa.ChunkedArray | np.ndarray) -> ColumnCounts:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(array, np.ndarray):
        array = pa.array(array, from_pandas=True)
    out = ColumnCounts.empty(bins)
    out.rows = len(array)
    out.missing = array.null_count
    values, counts = level_tallies(array)
    if len(values) == 0:
        return out
    other = len(bins.levels)
    position = pc.index_in(values, value_set=pa.array(bins.levels, pa.string())).fill_null(other)
    out.counts = (
        np.bincount(position.to_numpy(), weights=counts, minlength=bins.size).astype("int64").tolist()
    )
    if bins.known is not None:
        unseen = np.asarray(
            pc.invert(pc.is_in(values, value_set=pa.array(sorted(bins.known), pa.string())))
            .fill_null(False)
            .to_numpy(zero_copy_only=False)
        ) & (counts > 0)
        if unseen.any():
            out.outside = int(counts[unseen].sum())
            first = np.flatnonzero(unseen)[:20]
            for level, n in zip(values.take(first).to_pylist(), counts[first].tolist(), strict=True):
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
