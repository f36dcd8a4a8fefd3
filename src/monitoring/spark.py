"""`mmp monitor --engine spark`: the same window states as the local engine, summed by Spark.

Spark reads the log; each partition runs the local engine's own per-batch code (`add_batch`) on
its Arrow batches (`mapInArrow`) and returns its partial `WindowState`s, pickled; the driver adds
them up with the local engine's merge. Bin counts add up exactly, so the scores are the local
engine's (float sums may differ in the last bits: they are added in another order).

Executors need mmp and the columns' types as the driver saw them: each batch is cast back to the
schema `pyarrow.dataset` gives the same files, so CSV text and Spark's timestamp types bucket as
they do locally.
"""

from __future__ import annotations

import contextlib
import pickle
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from mmp.core.errors import MmpError, first_line, import_optional
from mmp.core.spark import spark_session
from mmp.monitoring.monitor import add_batch, merge_states
from mmp.monitoring.sources import open_dataset

if TYPE_CHECKING:
    import pyarrow as pa

    from mmp.monitoring.monitor import Plan
    from mmp.monitoring.windows import WindowState

_OUT_SCHEMA = "start_us long, state binary, error string"


def summarise_spark(
    source: str, plan_: Plan, where: str, master: str = "local[*]"
) -> dict[int | None, WindowState]:
    """Summarise `source` into per-window states on Spark (`master`); raise `MmpError` on bad data."""
    import_optional("pyspark", "spark")
    dataset = open_dataset(source, "--data")  # the files and types the local engine would read
    columns = plan_.read_columns(dataset.schema.names)
    target = _select(dataset.schema, columns)
    with warnings.catch_warnings():
        # pyspark 4.x warns that it does not fully support pandas 3; no pandas UDF runs here
        warnings.filterwarnings(
            "ignore", message="PySpark does not yet fully support", category=FutureWarning
        )
        spark, owned = spark_session(master, "mmp-monitor")
        try:
            frame = _read(spark, source, dataset, columns, where)
            rows = frame.mapInArrow(_partition_summariser(plan_, target, where), _OUT_SCHEMA).collect()
        except MmpError:
            raise
        except Exception as exc:  # noqa: BLE001 - Py4J and Spark raise many types for unreadable input
            raise MmpError(
                f"{where}: Spark could not summarise: {first_line(exc)}", "check the files"
            ) from None
        finally:
            if owned:
                spark.stop()
    states: dict[int | None, WindowState] = {}
    for row in rows:
        if row["error"] is not None:
            raise MmpError(*pickle.loads(row["state"]))
        merge_states(states, pickle.loads(row["state"]), plan_)
    return states


def _select(schema: pa.Schema, columns: list[str]) -> pa.Schema:
    import pyarrow as pa

    return pa.schema([schema.field(name) for name in columns])


def _read(spark: Any, source: str, dataset: Any, columns: list[str], where: str) -> Any:
    """The same files `open_dataset` found (a folder's hidden and `_` files skipped), as Spark reads them."""
    from pathlib import Path

    remote = "://" in source
    paths = [source] if remote else list(dataset.files)
    csv = (paths[0].lower().split(".gz")[0]).endswith((".csv", ".tsv"))
    reader = spark.read
    if not remote and Path(source).is_dir():
        reader = reader.option("basePath", source)  # hive partition folders become columns, as locally
    if csv:
        tab = paths[0].lower().split(".gz")[0].endswith(".tsv")
        frame = (
            reader.option("header", True)
            .option("multiLine", True)
            .option("escape", '"')
            .option("sep", "\t" if tab else ",")
            .option("inferSchema", False)  # text: each batch is cast to the local engine's types
            .option("encoding", "UTF-8")
            .csv(paths)
        )
    else:
        frame = reader.parquet(*paths)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise MmpError(f"{where}: Spark sees no column {', '.join(map(repr, missing))}", "check the files")
    return frame.select(*(f"`{c}`" for c in columns))


def _partition_summariser(plan_: Plan, target: pa.Schema, where: str) -> Any:
    """The function each Spark task runs over its Arrow batches: the local engine's code, then pickle."""

    def summarise_partition(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import pyarrow as pa

        out = pa.schema([("start_us", pa.int64()), ("state", pa.binary()), ("error", pa.string())])
        states: dict[int | None, WindowState] = {}
        try:
            for batch in batches:
                add_batch(states, _as_local(batch, target), plan_, where)
        except MmpError as exc:  # sent back as data: the driver raises it as one line, no traceback
            problem = pickle.dumps((exc.message, exc.hint))
            yield pa.RecordBatch.from_pydict({"start_us": [None], "state": [problem], "error": ["1"]}, out)
            return
        starts = list(states)
        blobs = [pickle.dumps(states[s]) for s in starts]
        yield pa.RecordBatch.from_pydict(
            {"start_us": starts, "state": blobs, "error": [None] * len(starts)}, out
        )

    return summarise_partition


def _as_local(batch: pa.RecordBatch, target: pa.Schema) -> pa.RecordBatch:
    """The batch with the types the local engine reads (a column that will not cast is left as is:
    the per-batch code then names it, as it does locally)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arrays = []
    for field in target:
        column = batch.column(field.name)
        if column.type != field.type:
            with contextlib.suppress(pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
                column = pc.cast(column, field.type)
        arrays.append(column)
    return pa.RecordBatch.from_arrays(arrays, names=target.names)
