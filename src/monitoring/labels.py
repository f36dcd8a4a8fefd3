"""Ground truth that arrives after the prediction: checked against the contract, appended to a log.

A label names its prediction by `request_id` (what the server logged), or by the model's entity
columns (+ an optional `timestamp`: `mmp monitor` then joins it to predictions of that window). The
label must fit the target: a class the model knows (classifiers), a number (regressors).
"""

from __future__ import annotations

import itertools
import math
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mmp.core.contract import FeatureContract
from mmp.monitoring.sketch import level_text

if TYPE_CHECKING:
    import pyarrow as pa

REQUEST_ID = "request_id"
LABEL = "label"
TIMESTAMP = "timestamp"
RECEIVED_AT = "received_at"


@dataclass(frozen=True)
class LabelProblem:
    """One bad field: where (e.g. ["labels", 2, "label"]) and what is wrong."""

    loc: list[str | int]
    message: str


class InvalidLabels(ValueError):
    def __init__(self, problems: list[LabelProblem]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, p.loc))}: {p.message}" for p in problems))
        self.problems = problems


def check_labels(contract: FeatureContract, records: list[Any]) -> list[dict[str, Any]]:
    """Normalised label rows, or `InvalidLabels` listing every bad field (never a partial write)."""
    if contract.task == "clustering" or contract.target_column is None:
        raise InvalidLabels([LabelProblem(["labels"], "this model has no target: it takes no labels")])
    classes = {level_text(c): c for c in contract.classes or []}
    entities = contract.entity_columns
    problems: list[LabelProblem] = []
    rows: list[dict[str, Any]] = []
    received = datetime.now(UTC)
    for i, record in enumerate(records):
        where: list[str | int] = ["labels", i]
        if not isinstance(record, dict):
            problems.append(
                LabelProblem(where, "expected an object with request_id (or entity columns) and label")
            )
            continue
        unknown = set(record) - {REQUEST_ID, LABEL, TIMESTAMP, *entities}
        for key in sorted(unknown):
            problems.append(LabelProblem([*where, key], "unknown field"))
        row: dict[str, Any] = {REQUEST_ID: None, TIMESTAMP: None, RECEIVED_AT: received}
        request_id = record.get(REQUEST_ID)
        if request_id is not None and (
            not isinstance(request_id, str) or not request_id or len(request_id) > 200
        ):
            problems.append(
                LabelProblem([*where, REQUEST_ID], "must be a non-empty string (at most 200 characters)")
            )
        row[REQUEST_ID] = request_id
        for name in entities:
            value = record.get(name)
            row[name] = value
            if value is not None and not _fits(contract, name, value):
                problems.append(LabelProblem([*where, name], f"must be {contract.column(name).dtype}"))
        if request_id is None and any(record.get(name) is None for name in entities):
            needed = "request_id" + (f" or the entity columns {', '.join(entities)}" if entities else "")
            problems.append(LabelProblem(where, f"needs {needed}"))
        stamp = record.get(TIMESTAMP)
        if stamp is not None:
            try:
                parsed = datetime.fromisoformat(str(stamp))
                row[TIMESTAMP] = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
            except ValueError:
                problems.append(LabelProblem([*where, TIMESTAMP], "must be an ISO 8601 date/time"))
        if LABEL not in record or record[LABEL] is None:
            problems.append(LabelProblem([*where, LABEL], "required"))
            continue
        value = record[LABEL]
        if contract.task == "classification":
            key = level_text(value)
            if key not in classes or isinstance(value, dict | list):
                shown = ", ".join(list(classes)[:10])
                problems.append(
                    LabelProblem([*where, LABEL], f"{value!r} is not a class of the model (classes: {shown})")
                )
            row[LABEL] = key
        else:
            number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
            if number is None or not math.isfinite(float(number)):
                problems.append(LabelProblem([*where, LABEL], f"{value!r} is not a finite number"))
                continue
            row[LABEL] = float(number)
        rows.append(row)
    if problems:
        raise InvalidLabels(problems)
    return rows


def _fits(contract: FeatureContract, name: str, value: Any) -> bool:
    dtype = contract.column(name).dtype
    if dtype == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if dtype == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if dtype == "boolean":
        return isinstance(value, bool)
    return isinstance(value, str | int | float)


def labels_table(contract: FeatureContract, rows: list[dict[str, Any]]) -> pa.Table:
    import pyarrow as pa

    from mmp.monitoring.prediction_log import _arrow_type

    label_type = pa.string() if contract.task == "classification" else pa.float64()
    fields = [pa.field(REQUEST_ID, pa.string())]
    fields += [pa.field(n, _arrow_type(contract, n)) for n in contract.entity_columns]
    fields += [
        pa.field(TIMESTAMP, pa.timestamp("us", tz="UTC")),
        pa.field(LABEL, label_type),
        pa.field(RECEIVED_AT, pa.timestamp("us", tz="UTC")),
    ]
    schema = pa.schema(fields)
    return pa.Table.from_pylist([{f.name: r.get(f.name) for f in schema} for r in rows], schema=schema)


class LabelStore:
    """Appends labels to Parquet files (`date=YYYY-MM-DD/part-....parquet`, renamed into place) or to
    a SQL table; a write is complete or absent, and happens before `POST /labels` answers."""

    def __init__(self, location: str, sql_uri: str | None = None, table: str = "prediction_labels") -> None:
        self.sql_uri = sql_uri
        self.table = table
        self._seq = itertools.count()
        self.prefix = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        if sql_uri is None:
            from mmp.monitoring.prediction_log import open_filesystem

            self.fs, self.root = open_filesystem(location)
        self._engine: Any = None

    def append(self, contract: FeatureContract, rows: list[dict[str, Any]]) -> int:
        table = labels_table(contract, rows)
        if self.sql_uri is not None:
            return self._append_sql(table)
        import pyarrow.parquet as pq

        day = datetime.now(UTC).date().isoformat()
        folder = f"{self.root}/date={day}"
        self.fs.create_dir(folder, recursive=True)
        name = f"part-{self.prefix}-{next(self._seq):06d}.parquet"
        tmp = f"{folder}/.{name}.tmp"
        with self.fs.open_output_stream(tmp) as out:
            pq.write_table(table, out)
        self.fs.move(tmp, f"{folder}/{name}")
        return table.num_rows

    def _append_sql(self, table: pa.Table) -> int:
        import sqlalchemy as sa

        if self._engine is None:
            self._engine = sa.create_engine(self.sql_uri)  # type: ignore[arg-type]
        schema, _, name = self.table.rpartition(".")
        meta = sa.MetaData()
        kinds = {"string": sa.String, "double": sa.Float, "int64": sa.BigInteger, "bool": sa.Boolean}
        columns = [
            sa.Column(
                f.name,
                sa.DateTime(timezone=True)
                if str(f.type).startswith("timestamp")
                else kinds.get(str(f.type), sa.String)(),
            )
            for f in table.schema
        ]
        sql_table = sa.Table(name, meta, *columns, schema=schema or None)
        meta.create_all(self._engine, checkfirst=True)
        with self._engine.begin() as conn:
            conn.execute(sql_table.insert(), table.to_pylist())
        return table.num_rows
