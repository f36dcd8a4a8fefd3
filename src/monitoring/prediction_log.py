"""The prediction log: every scored record (or a sample), written in the background in batches.

The request path only appends to a bounded buffer (`PredictionLog.record`, O(1), never blocks): when
the buffer is full the records are dropped and counted, never delaying or failing a request. A
writer thread flushes every `flush_interval_s` or `flush_rows`, to Parquet files or a SQL table:

- Parquet: `<path>/date=YYYY-MM-DD/model_version=V/part-<host>-<pid>-<n>.parquet`. Each process
  writes its own files; each file is written under a hidden temporary name (`.`-prefixed, ignored
  by readers) and renamed, so a file appears complete or not at all. The folder may be any
  pyarrow/fsspec filesystem URI (s3://, gs://, ...).
- SQL: rows appended to a table (default `prediction_logs`) through SQLAlchemy, one transaction per
  flush.

On a clean shutdown (`close`) the buffer is drained; after `kill -9` what was not flushed yet (at
most `flush_interval_s` of records, or `flush_rows`) is lost.
"""

from __future__ import annotations

import itertools
import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mmp.core.contract import FeatureContract
from mmp.core.errors import MmpError
from mmp.monitoring.profile import PREDICTION, PROBABILITY_PREFIX

if TYPE_CHECKING:
    import pyarrow as pa

    from mmp.recipe.config import PredictionLogSettings

logger = logging.getLogger("mmp.monitoring.log")

# Columns the log adds around the model's inputs (reserved names).
REQUEST_ID = "request_id"
SERVED_AT = "served_at"
MODEL_NAME = "model_name"
MODEL_VERSION = "model_version"
LATENCY_MS = "latency_ms"
DATE = "date"
RESERVED = (REQUEST_ID, SERVED_AT, MODEL_NAME, MODEL_VERSION, LATENCY_MS, DATE, PREDICTION)


@dataclass(frozen=True)
class Entry:
    """One scored request as the request path hands it over (expanded to rows by the writer)."""

    request_id: str
    served_at: datetime
    model_name: str
    model_version: str
    contract: FeatureContract
    rows: Sequence[Mapping[str, Any]]
    results: list[dict[str, Any]]
    latency_ms: float
    batch: bool


class Buffer:
    """A bounded hand-off between request handlers and the writer thread, counted in records."""

    def __init__(self, capacity: int, wake_at: int) -> None:
        self.capacity = capacity
        self.wake_at = wake_at
        self._entries: list[Entry] = []
        self._rows = 0
        self._lock = threading.Condition()
        self.dropped = 0

    def offer(self, entry: Entry) -> bool:
        n = len(entry.rows)
        with self._lock:
            if self._rows + n > self.capacity:
                self.dropped += n
                return False
            self._entries.append(entry)
            self._rows += n
            if self._rows >= self.wake_at:
                self._lock.notify()
        return True

    def take(self, timeout: float) -> list[Entry]:
        """Wait up to `timeout` for a full batch (or a wake-up), then take everything buffered."""
        with self._lock:
            if timeout > 0 and self._rows < self.wake_at:
                self._lock.wait(timeout)
            entries, self._entries, self._rows = self._entries, [], 0
        return entries

    def wake(self) -> None:
        with self._lock:
            self._lock.notify()

    def __len__(self) -> int:
        return self._rows


class PredictionLog:
    """Owns the buffer, the writer thread and the sink; `record` is the only call on the request path."""

    def __init__(
        self,
        settings: PredictionLogSettings,
        sink: Sink,
        on_drop: Callable[[int], None] | None = None,
        on_written: Callable[[int], None] | None = None,
    ) -> None:
        self.settings = settings
        self.sink = sink
        self.buffer = Buffer(settings.queue_records, settings.flush_rows)
        self.on_drop = on_drop
        self.on_written = on_written
        self.written = 0
        self.failed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mmp-prediction-log", daemon=True)
        self._random = random.Random()

    def start(self) -> PredictionLog:
        self._thread.start()
        return self

    @property
    def dropped(self) -> int:
        return self.buffer.dropped

    def record(
        self,
        request_id: str,
        model_name: str,
        model_version: str,
        contract: FeatureContract,
        rows: Sequence[Mapping[str, Any]],
        results: list[dict[str, Any]],
        latency_s: float,
        batch: bool = False,
    ) -> None:
        """Hand one scored request over (sampled); never blocks, never raises."""
        rate = self.settings.sample_rate
        if rate < 1.0 and self._random.random() >= rate:
            return
        entry = Entry(
            request_id,
            datetime.now(UTC),
            model_name,
            model_version,
            contract,
            rows,
            results,
            round(latency_s * 1000, 3),
            batch,
        )
        if not self.buffer.offer(entry) and self.on_drop is not None:
            self.on_drop(len(rows))

    def _run(self) -> None:
        interval = self.settings.flush_interval_s
        while not self._stop.is_set():
            self._flush(self.buffer.take(interval))
        self._flush(self.buffer.take(0))

    def _flush(self, entries: list[Entry]) -> None:
        if not entries:
            return
        n = sum(len(e.rows) for e in entries)
        try:
            self.sink.write(entries)
        except Exception:  # a log failure must never take the server down
            self.failed += n
            logger.exception("prediction log: could not write %d records (they are lost)", n)
            if self.on_drop is not None:
                self.on_drop(n)
            return
        self.written += n
        if self.on_written is not None:
            self.on_written(n)

    def close(self, timeout: float = 30.0) -> None:
        """Write everything buffered, then stop the thread (clean shutdown loses nothing)."""
        self._stop.set()
        self.buffer.wake()
        if self._thread.is_alive():
            self._thread.join(timeout)


# ------------------------------------------------------------------------------------------- rows


def _probability_columns(contract: FeatureContract) -> list[str]:
    from mmp.monitoring.sketch import level_text

    if contract.task != "classification" or not contract.classes:
        return []
    return [f"{PROBABILITY_PREFIX}{level_text(c)}" for c in contract.classes]


def _arrow_type(contract: FeatureContract, name: str) -> pa.DataType:
    import pyarrow as pa

    dtype = contract.column(name).dtype
    return {
        "integer": pa.int64(),
        "number": pa.float64(),
        "boolean": pa.bool_(),
        "string": pa.string(),
        "datetime": pa.timestamp("us"),
    }[dtype]


def log_schema(contract: FeatureContract, partitioned: bool) -> pa.Schema:
    """Columns of a log file: ids and time, the request's columns as the contract types them, answers."""
    import pyarrow as pa

    fields = [pa.field(REQUEST_ID, pa.string()), pa.field(SERVED_AT, pa.timestamp("us", tz="UTC"))]
    fields += [pa.field(MODEL_NAME, pa.string())]
    if not partitioned:
        fields += [pa.field(MODEL_VERSION, pa.string()), pa.field(DATE, pa.string())]
    fields.append(pa.field(LATENCY_MS, pa.float64()))
    fields += [pa.field(c, _arrow_type(contract, c)) for c in contract.request_columns]
    if contract.task == "classification":
        classes = contract.classes or []
        kind = pa.int64() if classes and all(isinstance(c, int) for c in classes) else pa.string()
        fields.append(pa.field(PREDICTION, kind))
    else:
        fields.append(pa.field(PREDICTION, pa.float64()))
    fields += [pa.field(c, pa.float64()) for c in _probability_columns(contract)]
    return pa.schema(fields)


def to_table(entries: list[Entry], partitioned: bool) -> pa.Table:
    """Entries of one model contract as one Arrow table (values that do not fit a type become null).

    Built column by column (the inputs by Arrow from the records in one call), not cell by cell: it
    runs in the serving process, where every millisecond it holds the interpreter is taken from
    requests."""
    import pyarrow as pa

    from mmp.monitoring.sketch import level_text

    contract = entries[0].contract
    schema = log_schema(contract, partitioned)
    counts = [len(e.rows) for e in entries]

    def repeated(values: list[Any]) -> list[Any]:
        return list(itertools.chain.from_iterable(map(itertools.repeat, values, counts)))

    columns: dict[str, list[Any]] = {
        REQUEST_ID: [
            f"{e.request_id}/{i}" if e.batch else e.request_id for e in entries for i in range(len(e.rows))
        ],
        SERVED_AT: repeated([e.served_at for e in entries]),
        MODEL_NAME: repeated([e.model_name for e in entries]),
        LATENCY_MS: repeated([e.latency_ms for e in entries]),
    }
    if not partitioned:
        columns[MODEL_VERSION] = repeated([e.model_version for e in entries])
        columns[DATE] = repeated([e.served_at.date().isoformat() for e in entries])
    results = [result for e in entries for result in e.results]
    columns[PREDICTION] = [result.get("prediction") for result in results]
    keys = [level_text(c) for c in contract.classes or []]
    for name, key in zip(_probability_columns(contract), keys, strict=True):
        columns[name] = [(result.get("probabilities") or {}).get(key) for result in results]
    rows = [row for e in entries for row in e.rows]
    inputs = contract.request_columns
    arrays: dict[str, pa.Array] = {}
    try:
        table = pa.Table.from_pylist(rows, schema=pa.schema([schema.field(name) for name in inputs]))
        arrays.update({name: table.column(name).combine_chunks() for name in inputs})
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
        columns.update({name: [row.get(name) for row in rows] for name in inputs})
    for f in schema:
        if f.name in arrays:
            continue
        try:
            arrays[f.name] = pa.array(columns[f.name], type=f.type, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
            arrays[f.name] = pa.array(columns[f.name], from_pandas=True).cast(f.type, safe=False)
    return pa.Table.from_arrays([arrays[f.name] for f in schema], schema=schema)


# ------------------------------------------------------------------------------------------ sinks


class Sink:
    """Where flushed batches go."""

    def write(self, entries: list[Entry]) -> None:
        raise NotImplementedError


def _groups(entries: list[Entry]) -> dict[tuple[str, str], list[Entry]]:
    out: dict[tuple[str, str], list[Entry]] = {}
    for e in entries:
        out.setdefault((e.served_at.date().isoformat(), e.model_version), []).append(e)
    return out


def open_filesystem(path: str) -> tuple[Any, str]:
    """(pyarrow filesystem, path inside it) for a local folder or a URI pyarrow or fsspec knows."""
    import pyarrow.fs as pafs

    if "://" not in path:
        return pafs.LocalFileSystem(), os.path.abspath(path)
    try:
        return pafs.FileSystem.from_uri(path)
    except (ValueError, OSError):  # a scheme pyarrow does not know: try fsspec
        pass
    try:
        import fsspec
    except ImportError:
        raise MmpError(
            f"prediction log: no filesystem for {path}", "pip install fsspec and its driver"
        ) from None
    fs, inner = fsspec.core.url_to_fs(path)
    return pafs.PyFileSystem(pafs.FSSpecHandler(fs)), inner


class ParquetSink(Sink):
    """Hive-partitioned Parquet files, one per (date, model version) per flush, renamed into place."""

    def __init__(self, path: str) -> None:
        self.fs, self.root = open_filesystem(path)
        self.fs.create_dir(self.root, recursive=True)
        self.prefix = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._seq = itertools.count()

    def write(self, entries: list[Entry]) -> None:
        import pyarrow.parquet as pq

        for (day, version), group in _groups(entries).items():
            table = to_table(group, partitioned=True)
            folder = f"{self.root}/{DATE}={day}/{MODEL_VERSION}={_safe(version)}"
            self.fs.create_dir(folder, recursive=True)
            name = f"part-{self.prefix}-{next(self._seq):06d}.parquet"
            tmp = f"{folder}/.{name}.tmp"
            with self.fs.open_output_stream(tmp) as out:
                pq.write_table(table, out, compression="zstd")
            self.fs.move(tmp, f"{folder}/{name}")


class SqlSink(Sink):
    """Rows appended to a SQL table (created when missing) through SQLAlchemy."""

    def __init__(self, uri: str, table: str) -> None:
        import sqlalchemy as sa

        self.engine = sa.create_engine(uri)
        schema, _, name = table.rpartition(".")
        self.table_name, self.schema = name, schema or None
        self._tables: dict[str, Any] = {}

    def _table(self, contract: FeatureContract) -> Any:
        import sqlalchemy as sa

        cached = self._tables.get(contract.name)
        if cached is not None:
            return cached
        types = {"int64": sa.BigInteger, "double": sa.Float, "bool": sa.Boolean, "string": sa.String}
        meta = sa.MetaData()
        columns = []
        for f in log_schema(contract, partitioned=False):
            text = str(f.type)
            kind = (
                sa.DateTime(timezone=True) if text.startswith("timestamp") else types.get(text, sa.String)()
            )
            columns.append(sa.Column(f.name, kind))
        table = sa.Table(self.table_name, meta, *columns, schema=self.schema)
        meta.create_all(self.engine, checkfirst=True)
        self._tables[contract.name] = table
        return table

    def write(self, entries: list[Entry]) -> None:
        by_contract: dict[str, list[Entry]] = {}
        for e in entries:
            by_contract.setdefault(e.contract.name, []).append(e)
        with self.engine.begin() as conn:
            for group in by_contract.values():
                table = self._table(group[0].contract)
                rows = to_table(group, partitioned=False).to_pylist()
                conn.execute(table.insert(), rows)


def _safe(value: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in value) or "unknown"


def open_log(
    settings: PredictionLogSettings,
    uri_from_env: Callable[[str], str],
    on_drop: Callable[[int], None] | None = None,
    on_written: Callable[[int], None] | None = None,
) -> PredictionLog:
    """The configured log, started. `uri_from_env(name)` reads a database URI (never from a file)."""
    sink: Sink
    if settings.kind == "sql":
        sink = SqlSink(uri_from_env(settings.uri_env), settings.table)
    else:
        sink = ParquetSink(settings.path)
    return PredictionLog(settings, sink, on_drop, on_written).start()


def now_ms() -> float:
    return time.time() * 1000
