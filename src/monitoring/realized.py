"""Realized performance: join late labels to the predictions they judge, in bounded memory, and score
each window with the metric registry (`mmp.core.metrics`), under the names `mmp evaluate` uses.

Labels are read in batches and keyed (by `request_id`, or by the entity columns, plus the window of
the label's `timestamp` when it has one). Up to `memory_rows` keyed labels stay in memory and every
prediction batch is looked up against them as it streams past. Beyond that, labels and the
predictions' keys are spilled to disk in hash partitions (a grace hash join: each partition is
joined on its own, so memory holds one partition, whatever the number of labels).

The joined rows (window, label, prediction, probabilities) are spilled too, partitioned by window,
and each window is scored once all its rows are in: the registry's metrics are not all additive
(F1, ROC AUC), so they see every labelled row of the window at once. Memory then holds one
partition of joined rows: a few windows' labelled rows.
"""

from __future__ import annotations

import math
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmp.core.errors import MmpError
from mmp.core.metrics import compute_metrics, default_metrics, get_metric
from mmp.monitoring.sketch import as_float, as_text, level_text

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from mmp.core.contract import FeatureContract

REQUEST_ID = "request_id"
LABEL = "label"
TIMESTAMP = "timestamp"
KEY = "__key"
WINDOW = "__window"
NO_WINDOW = -(2**63)  # the window id of data without a time column (one window)
MEMORY_ROWS = 2_000_000  # keyed labels kept in memory before spilling to disk partitions
JOINED_PARTS = 16


@dataclass(frozen=True)
class LabelJoinSpec:
    """How labels name their predictions: by request id, or by entity values (+ the window)."""

    by: str  # "request_id" or "entities"
    entity_columns: tuple[str, ...] = ()
    windowed: bool = False


def realized_metric_names(contract: FeatureContract) -> list[str]:
    """The task's default metrics that labels and logged outputs can give (not clustering's)."""
    if contract.task not in ("classification", "regression", "timeseries"):
        return []
    return [n for n in default_metrics(contract.task) if get_metric(n).needs in ("labels", "proba")]


class _Partitions:
    """Tables appended to N Arrow IPC files by partition number (thread-safe), read back one by one."""

    def __init__(self, folder: Path, name: str, parts: int) -> None:
        self.folder, self.name, self.parts = folder, name, parts
        self._writers: dict[int, Any] = {}
        self._schema: pa.Schema | None = None
        self._lock = threading.Lock()
        self.rows = 0

    def write(self, table: pa.Table, part: np.ndarray | None = None) -> None:
        import numpy as np
        import pyarrow as pa

        if table.num_rows == 0:
            return
        with self._lock:
            if self._schema is None:
                self._schema = table.schema
            elif table.schema != self._schema:
                table = table.cast(self._schema)
            if part is None or self.parts == 1:
                self._writer(0).write_table(table)
            else:
                for p in np.unique(part):
                    self._writer(int(p)).write_table(table.filter(pa.array(part == p)))
            self.rows += table.num_rows

    def _writer(self, part: int) -> Any:
        import pyarrow as pa

        writer = self._writers.get(part)
        if writer is None:
            assert self._schema is not None
            path = self.folder / f"{self.name}-{part:05d}.arrow"
            writer = self._writers[part] = pa.ipc.new_stream(str(path), self._schema)
        return writer

    def close(self) -> None:
        with self._lock:
            for writer in self._writers.values():
                writer.close()

    def read(self, part: int) -> pa.Table | None:
        import pyarrow as pa

        if part not in self._writers:
            return None
        with pa.memory_map(str(self.folder / f"{self.name}-{part:05d}.arrow")) as source:
            return pa.ipc.open_stream(source).read_all()


def key_hash(keys: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A 64-bit hash per text key, vectorised over Arrow's buffers (no Python string per key).

    A polynomial hash of the bytes (wrapping mod 2^64), mixed with the length and finalised with
    MurmurHash3's fmix64: stable across runs and processes, so one key always lands in the same
    partition, and good enough that distinct keys practically never share a hash.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(keys, pa.ChunkedArray):
        keys = keys.combine_chunks() if keys.num_chunks != 1 else keys.chunk(0)
    if keys.type != pa.string():
        keys = pc.cast(keys, pa.string())
    n = len(keys)
    out = np.zeros(n, dtype=np.uint64)
    if n == 0:
        return out
    _, offsets_buffer, data_buffer = keys.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int32)[keys.offset : keys.offset + n + 1]
    offsets = offsets.astype(np.int64)
    first, last = int(offsets[0]), int(offsets[-1])
    lengths = np.diff(offsets)
    with np.errstate(over="ignore"):
        if last > first:
            data = np.frombuffer(data_buffer, dtype=np.uint8)[first:last].astype(np.uint64)
            starts = offsets[:-1] - first
            position = np.arange(last - first, dtype=np.int64) - np.repeat(starts, lengths)
            powers = np.cumprod(np.full(int(lengths.max()), _PRIME, dtype=np.uint64))
            filled = lengths > 0
            out[filled] = np.add.reduceat((data + np.uint64(1)) * powers[position], starts[filled])
        out ^= lengths.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        out ^= out >> np.uint64(33)
        out *= np.uint64(0xFF51AFD7ED558CCD)
        out ^= out >> np.uint64(33)
        out *= np.uint64(0xC4CEB9FE1A85EC53)
        out ^= out >> np.uint64(33)
    return out


_PRIME = 0x100000001B3  # FNV's 64-bit prime


def _hash_part(keys: pa.Array | pa.ChunkedArray | np.ndarray, parts: int) -> np.ndarray:
    """A stable partition number per key (the same key always lands in the same partition)."""
    import numpy as np

    if parts == 1:
        return np.zeros(len(keys), dtype="int64")
    if isinstance(keys, np.ndarray):  # window starts
        with np.errstate(over="ignore"):
            hashed = keys.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        hashed ^= hashed >> np.uint64(29)
    else:
        hashed = key_hash(keys)
    return np.asarray(hashed % np.uint64(parts), dtype="int64")


class _KeyIndex:
    """Label keys in memory, looked up by hash with a binary search: building it once and probing
    each batch costs O(batch · log labels), where `pc.index_in` would rebuild a hash set of all the
    labels for every batch."""

    def __init__(self, keys: pa.Array) -> None:
        import numpy as np

        self.keys = keys
        hashes = key_hash(keys)
        self.order = np.argsort(hashes, kind="stable")
        self.hashes = hashes[self.order]

    def lookup(self, keys: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        """(positions in `keys` that have a label, the label's row) — keys compared exactly."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        probe = key_hash(keys)
        slot = np.searchsorted(self.hashes, probe)
        slot[slot == len(self.hashes)] = 0
        hit = np.flatnonzero(self.hashes[slot] == probe) if len(self.hashes) else np.zeros(0, "int64")
        if keys.null_count:
            hit = hit[np.asarray(keys.is_valid().to_numpy(zero_copy_only=False))[hit]]
        rows = self.order[slot[hit]]
        same = pc.equal(keys.take(pa.array(hit)), self.keys.take(pa.array(rows)))
        exact = np.asarray(same.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)
        return hit[exact], rows[exact]


class LabelJoin:
    """Collects labelled predictions per window while the data streams, then scores every window.

    `add(window_start, batch)` is called with each batch of predictions of one window (any thread);
    `finish()` returns `{window_start: realized metrics}`.
    """

    def __init__(
        self,
        labels: Iterable[pa.Table],
        spec: LabelJoinSpec,
        contract: FeatureContract,
        probability_columns: tuple[str, ...],
        folder: Path,
        memory_rows: int = MEMORY_ROWS,
        prediction_rows: int | None = None,
    ) -> None:
        import pyarrow as pa

        self.spec, self.contract, self.folder = spec, contract, folder
        self.classifier = contract.task == "classification"
        self.classes = [level_text(c) for c in contract.classes or []] if self.classifier else []
        wanted = [f"probability_{c}" for c in self.classes]
        self.probability_columns = wanted if wanted and all(c in probability_columns for c in wanted) else []
        self.metric_names = [
            n
            for n in realized_metric_names(contract)
            if get_metric(n).needs != "proba" or self.probability_columns
        ]
        self.label_rows = 0
        memory: list[pa.Table] = []
        self.spilled: _Partitions | None = None
        for table in labels:  # keyed labels: memory until memory_rows, then hash partitions on disk
            self.label_rows += table.num_rows
            if self.spilled is None:
                memory.append(table)
                if self.label_rows > memory_rows:
                    # sized so that one partition of labels and of prediction keys fits in memory
                    largest = max(self.label_rows * 4, prediction_rows or 0)
                    parts = max(2, min(4096, math.ceil(largest / memory_rows)))
                    self.spilled = _Partitions(folder, "labels", parts)
                    for held in memory:
                        self.spilled.write(held, _hash_part(held[KEY], parts))
                    memory = []
            else:
                self.spilled.write(table, _hash_part(table[KEY], self.spilled.parts))
        if self.spilled is not None:
            self.spilled.close()
            self.memory, self.index = None, None
            self.predictions: _Partitions | None = _Partitions(folder, "predictions", self.spilled.parts)
        else:
            self.memory = _latest(pa.concat_tables(memory)) if memory else None
            self.index = _KeyIndex(self.memory[KEY].combine_chunks()) if self.memory is not None else None
            self.predictions = None
        # joined rows, partitioned by window: a window is scored with all its rows, one partition
        # (a few windows) in memory at a time
        self.joined = _Partitions(folder, "joined", JOINED_PARTS)
        self._windows: set[int] = set()
        self._lock = threading.Lock()

    # ------------------------------------------------------------------------ while streaming

    def add(self, start: int | None, batch: pa.RecordBatch) -> None:
        """Join one batch of predictions of one window (or hand its keys to the spilled join)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        window = NO_WINDOW if start is None else start
        keys = prediction_keys(batch, self.spec, start)
        taken = None
        if self.memory is not None:
            assert self.index is not None
            hit, rows = self.index.lookup(keys)
            if len(hit) == 0:
                return
            taken = pa.array(rows)
            batch = batch.take(pa.array(hit))
        elif keys.null_count:
            batch, keys = batch.filter(keys.is_valid()), keys.drop_null()
        columns = {
            WINDOW: pa.array([window] * batch.num_rows, pa.int64()),
            "y_pred": self._prediction(batch),
            **{c: pc.cast(batch.column(c), pa.float64()) for c in self.probability_columns},
        }
        if self.memory is not None:
            columns["y_true"] = self.memory[LABEL].take(taken)
            self._record(pa.table(columns))
        elif self.predictions is not None:
            table = pa.table({KEY: keys, **columns})
            self.predictions.write(table, _hash_part(table[KEY], self.predictions.parts))

    def _prediction(self, batch: pa.RecordBatch) -> pa.Array:
        import pyarrow as pa
        import pyarrow.compute as pc

        column = batch.column("prediction")
        if self.classifier:
            return as_text(column)
        return pc.cast(column, pa.float64())

    def _record(self, table: pa.Table) -> None:
        self.joined.write(table, _hash_part(table[WINDOW].to_numpy(), self.joined.parts))

    # ------------------------------------------------------------------------ at the end

    def finish(self) -> dict[int | None, dict[str, Any]]:
        """Realized metrics per window start (None: data without time) for windows with labels."""
        import pyarrow.compute as pc

        if self.predictions is not None and self.spilled is not None:
            self.predictions.close()
            for part in range(self.spilled.parts):  # the grace hash join, one partition at a time
                labels, predictions = self.spilled.read(part), self.predictions.read(part)
                if labels is None or predictions is None:
                    continue
                joined = predictions.join(_latest(labels), KEY, join_type="inner")
                if joined.num_rows:
                    self._record(joined.drop_columns([KEY]).rename_columns({LABEL: "y_true"}))
        self.joined.close()
        out: dict[int | None, dict[str, Any]] = {}
        for part in range(self.joined.parts):
            table = self.joined.read(part)
            if table is None:
                continue
            for window in sorted(pc.unique(table[WINDOW]).to_pylist()):
                rows = table.filter(pc.equal(table[WINDOW], window))
                out[None if window == NO_WINDOW else window] = self.score(rows)
        return out

    def score(self, rows: pa.Table) -> dict[str, Any]:
        """The registry's metrics for the task on one window's labelled rows."""
        import numpy as np

        proba = None
        if self.probability_columns:
            proba = np.column_stack([as_float(rows[c]) for c in self.probability_columns])
        values = score_rows(self.contract, rows["y_true"], rows["y_pred"], proba, self.metric_names)
        return {"labeled_rows": rows.num_rows, **values}


def score_rows(
    contract: FeatureContract,
    y_true: Any,
    y_pred: Any,
    proba: np.ndarray | None,
    names: list[str] | None = None,
) -> dict[str, float]:
    """`names` (default: the task's realized metrics) on these rows, through the metric registry.

    Classifiers are scored on class positions (labels compared as text, `level_text`), so the
    probability columns line up with `contract.classes` whatever the classes' own sort order
    (text "10" < "2"); a prediction that is no class counts as wrong. Undefined or non-finite
    metrics (ROC AUC of a one-class window) are left out.
    """
    import numpy as np

    names = realized_metric_names(contract) if names is None else names
    if contract.task == "classification":
        classes = [level_text(c) for c in contract.classes or []]
        truth, predicted = _positions(y_true, classes), _positions(y_pred, classes)
        if proba is not None and (proba.shape[1] != len(classes) or np.isnan(proba).any()):
            proba = None
        usable = [n for n in names if get_metric(n).needs != "proba" or proba is not None]
        values = compute_metrics(usable, truth, predicted, proba, classes=list(range(len(classes))))
    else:
        truth, predicted = _floats(y_true), _floats(y_pred)
        keep = ~(np.isnan(truth) | np.isnan(predicted))
        values = compute_metrics(names, truth[keep], predicted[keep]) if keep.any() else {}
    return {k: v for k, v in values.items() if math.isfinite(v)}


def _positions(values: Any, classes: list[str]) -> np.ndarray:
    """Each value's class position (compared as text, like `level_text`), -1 for no class."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if not isinstance(values, pa.Array | pa.ChunkedArray):
        values = pa.array([None if v is None else level_text(v) for v in values], pa.string())
    found = pc.index_in(as_text(values), value_set=pa.array(classes, pa.string()))
    return np.asarray(found.fill_null(-1).to_numpy(zero_copy_only=False), dtype="int64")


def _floats(values: Any) -> np.ndarray:
    import numpy as np
    import pyarrow as pa

    if isinstance(values, pa.Array | pa.ChunkedArray):
        return as_float(values)
    return np.asarray(values, dtype="float64")


def _latest(labels: pa.Table) -> pa.Table:
    """One label per key: the last one read (a corrected label replaces the first)."""
    if labels.num_rows == 0:
        return labels
    unique = labels.group_by(KEY, use_threads=False).aggregate([(LABEL, "last")])
    return unique.rename_columns({f"{LABEL}_last": LABEL}).select([KEY, LABEL]).combine_chunks()


def prediction_keys(batch: pa.RecordBatch, spec: LabelJoinSpec, start: int | None) -> pa.Array:
    """The join key of each prediction: its request id, or its entity values (+ its window)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if spec.by == REQUEST_ID:
        return as_text(batch.column(REQUEST_ID))
    parts = [as_text(batch.column(c)) for c in spec.entity_columns]
    if spec.windowed:
        parts.append(pa.array([str(start)] * batch.num_rows))
    return pc.binary_join_element_wise(*parts, "\x1f")


def keyed_labels(
    tables: Iterator[pa.Table], contract: FeatureContract, where: str
) -> tuple[LabelJoinSpec, Callable[[int | None, Any], Iterator[pa.Table]]]:
    """How the labels join (decided from the first batch's columns), and a function that streams
    the keyed, checked labels for a window length (`window_us`; None: the data has one window).

    Every label is checked against the target's type as it streams; an error names the row.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    first = next(tables, None)
    if first is None:
        raise MmpError(f"--labels {where}: no labels", "point --labels at labelled rows")
    names = first.schema.names
    value_column = (
        LABEL if LABEL in names else contract.target_column if contract.target_column in names else None
    )
    if value_column is None:
        raise MmpError(
            f"--labels {where}: no '{LABEL}' column (nor the target '{contract.target_column}')",
            "labels need request_id + label, or the entity columns + label",
        )
    entities = contract.entity_columns
    if REQUEST_ID in names and pc.any(pc.is_valid(first[REQUEST_ID])).as_py():
        spec = LabelJoinSpec(REQUEST_ID)
    elif entities and all(c in names for c in entities):
        spec = LabelJoinSpec("entities", tuple(entities), windowed=TIMESTAMP in names)
    else:
        wanted = " + ".join(entities) if entities else "(the model has no entity columns)"
        raise MmpError(
            f"--labels {where}: no request_id column, nor the entity columns {wanted}",
            "labels join to predictions by request_id, or by entity columns (+ timestamp)",
        )

    def keyed(window_us: int | None, epoch_us: Any) -> Iterator[pa.Table]:
        offset = 0
        for table in _chain(first, tables):
            rows = table.num_rows
            if spec.by == REQUEST_ID:
                keys = as_text(table[REQUEST_ID])
            else:
                parts = [as_text(table[c]) for c in spec.entity_columns]
                if spec.windowed and window_us is not None:
                    starts = (epoch_us(table[TIMESTAMP], f"--labels {where}") // window_us) * window_us
                    parts.append(pa.array([str(s) for s in starts]))
                keys = pc.binary_join_element_wise(*parts, "\x1f")
            values = checked_labels(table[value_column], contract, where, value_column, offset)
            out = pa.table({KEY: keys, LABEL: values})
            if out[KEY].null_count:
                out = out.filter(out[KEY].is_valid())
            offset += rows
            yield out

    return spec, keyed


def _chain(first: pa.Table, rest: Iterator[pa.Table]) -> Iterator[pa.Table]:
    yield first
    yield from rest


def checked_labels(
    column: pa.ChunkedArray | pa.Array, contract: FeatureContract, where: str, name: str, offset: int = 0
) -> pa.Array:
    """Labels as the target's type (text classes, float numbers); a bad one is a located MmpError."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if contract.task == "classification":
        text = as_text(column)
        classes = [level_text(c) for c in contract.classes or []]
        if classes:
            bad = pc.or_kleene(pc.invert(pc.is_in(text, value_set=pa.array(classes))), pc.is_null(text))
            if pc.any(bad).as_py():
                row = pc.index(bad, True).as_py()
                raise MmpError(
                    f"--labels {where}: row {offset + row}: {name} {text[row].as_py()!r} is not a class "
                    f"of the model (classes: {', '.join(classes[:10])})",
                    "send labels of the same type and spelling as the training target",
                )
        return text
    try:
        return pc.cast(column, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        for row, value in enumerate(as_text(column).to_pylist()):
            try:
                float(value)
            except (TypeError, ValueError):
                raise MmpError(
                    f"--labels {where}: row {offset + row}: {name} {value!r} is not a number "
                    f"(the target '{contract.target_column}' of a {contract.task} model)",
                    "send numeric labels",
                ) from None
        raise


def scratch_folder() -> tempfile.TemporaryDirectory[str]:
    """Where spilled partitions live for one run (removed at the end, even on an error)."""
    return tempfile.TemporaryDirectory(prefix="mmp-monitor-")
