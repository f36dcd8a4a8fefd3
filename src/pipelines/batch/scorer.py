"""Score one chunk: check its values, call the pipeline, and shape the output and reject rows.

A `ChunkScorer` is a plain picklable object, so the same code runs in the main process
(`--workers 1`) and in worker processes: identical inputs give identical outputs either way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from mmp.core.contract import ColumnContract, FeatureContract
from mmp.core.errors import MmpError, first_line
from mmp.core.scoring import Predictions, predict
from mmp.pipelines.batch.checks import Problems, arrow_type, coerce

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from mmp.core.model_store import ModelIdentity

OnError = Literal["fail", "skip"]
PREDICTION = "prediction"
PROBABILITY_PREFIX = "probability_"
IDENTITY_COLUMNS = ("model_name", "model_version", "model_run_id", "scored_at")
REJECT_COLUMNS = ("row", "column", "reason")
# A chunk whose rows the model refuses is split in halves to find the rows to blame; past this
# many refused rows the failure is systematic (a broken model, not bad rows) and the job stops.
MAX_MODEL_REFUSALS = 100


@dataclass
class ScoredChunk:
    """What one chunk produced. `rejects` always has the reject schema (often zero rows)."""

    first_row: int
    rows_in: int
    output: pa.Table | None
    rejects: pa.Table
    fatal: str | None = None

    @property
    def rows_out(self) -> int:
        return 0 if self.output is None else self.output.num_rows


@dataclass
class ChunkScorer:
    """Everything a worker needs to score chunks, and nothing it must not carry (no connections)."""

    pipeline: Any
    contract: FeatureContract
    identity: ModelIdentity
    scored_at: datetime
    probabilities: bool = False
    on_error: OnError = "fail"
    key_columns: list[str] = field(init=False)
    input_columns: list[str] = field(init=False)
    classes: list[Any] | None = field(init=False)

    def __post_init__(self) -> None:
        contract = self.contract
        timestamps = [c.name for c in contract.by_role("timestamp") if c.name in contract.model_input_columns]
        self.key_columns = [*contract.entity_columns, *timestamps]
        self.input_columns = [
            *self.key_columns,
            *(c for c in contract.model_input_columns if c not in self.key_columns),
        ]
        classes = list(getattr(self.pipeline, "classes_", [])) or contract.classes
        self.classes = [_plain(c) for c in classes] if contract.task == "classification" and classes else None
        if self.probabilities and not (self.classes and hasattr(self.pipeline, "predict_proba")):
            raise MmpError(
                f"--probabilities needs a classifier; {self.identity.name} is a {contract.task} model",
                "drop --probabilities",
            )
        taken = set(self.key_columns) & {PREDICTION, *IDENTITY_COLUMNS, *self.probability_columns}
        if taken:
            raise MmpError(
                f"the entity column {sorted(taken)[0]!r} has the name of an output column",
                "rename it in the data and the recipe",
            )

    @property
    def specs(self) -> list[ColumnContract]:
        return [self.contract.column(name) for name in self.input_columns]

    @property
    def probability_columns(self) -> list[str]:
        if not self.probabilities or not self.classes:
            return []
        return [f"{PROBABILITY_PREFIX}{c}" for c in self.classes]

    def output_schema(self) -> pa.Schema:
        """Fixed before the first chunk, so every chunk (and an empty input) writes the same columns."""
        import pyarrow as pa

        fields = [pa.field(name, arrow_type(self.contract.column(name))) for name in self.key_columns]
        fields.append(pa.field(PREDICTION, self._prediction_type()))
        fields += [pa.field(name, pa.float64()) for name in self.probability_columns]
        fields += [
            pa.field("model_name", pa.string()),
            pa.field("model_version", pa.string()),
            pa.field("model_run_id", pa.string()),
            pa.field("scored_at", pa.timestamp("us", tz="UTC")),
        ]
        return pa.schema(fields)

    def reject_schema(self) -> pa.Schema:
        import pyarrow as pa

        fields = [
            pa.field("row", pa.int64()),
            pa.field("column", pa.string()),
            pa.field("reason", pa.string()),
        ]
        return pa.schema(fields + [pa.field(name, pa.string()) for name in self.input_columns])

    def _prediction_type(self) -> pa.DataType:
        import pyarrow as pa

        if self.classes:
            first = self.classes[0]
            if isinstance(first, bool):
                return pa.bool_()
            if isinstance(first, int):
                return pa.int64()
            if isinstance(first, float):
                return pa.float64()
            return pa.string()
        return pa.int64() if self.contract.task == "clustering" else pa.float64()

    # --- scoring -------------------------------------------------------------------------------

    def __call__(
        self, chunk: pa.Table, first_row: int, coerced: tuple[pd.DataFrame, Problems] | None = None
    ) -> ScoredChunk:
        """Score `chunk`, whose first row is row number `first_row` (1-based) of the whole input.

        `coerced`: `coerce(chunk, self.specs)` when the caller already has it (evaluate scores one
        chunk with models that share a contract); it is not modified.
        """
        import numpy as np

        if coerced is None:
            typed, problems = coerce(chunk, self.specs)
        else:
            typed, problems = coerced[0], coerced[1].copy()
        if problems and self.on_error == "fail":
            first = problems.rows()[:1]
            return ScoredChunk(
                first_row, chunk.num_rows, None, self._rejects(chunk, problems, first, first_row)
            )
        good = typed
        if problems:
            keep = np.ones(chunk.num_rows, dtype=bool)
            keep[problems.rows()] = False
            good = typed[keep].reset_index(drop=True)
            positions = np.flatnonzero(keep)
        else:
            positions = np.arange(chunk.num_rows)
        X = good[self.contract.model_input_columns]
        limit = 1 if self.on_error == "fail" else MAX_MODEL_REFUSALS
        parts, refused, fatal = self._predict_resilient(X, limit)
        if refused:
            for local, message in refused.items():
                problems.add([int(positions[local])], *self._blame(good, local, message))
            keep = np.ones(len(good), dtype=bool)
            keep[list(refused)] = False
            good = good[keep].reset_index(drop=True)
        rejects = self._rejects(chunk, problems, problems.rows(), first_row)
        if fatal is not None or (refused and self.on_error == "fail"):
            return ScoredChunk(first_row, chunk.num_rows, None, rejects, fatal=fatal)
        return ScoredChunk(first_row, chunk.num_rows, self._output(good, parts), rejects)

    def _predict_resilient(self, X: Any, limit: int) -> tuple[list[Predictions], dict[int, str], str | None]:
        """Predict all rows; when the model raises, split in halves to find the rows it refuses."""
        parts: list[Predictions] = []
        refused: dict[int, str] = {}

        def run(start: int, stop: int) -> str | None:
            if start >= stop:
                return None
            try:
                parts.append(predict(self.pipeline, self.contract, X.iloc[start:stop], self.probabilities))
                return None
            except Exception as exc:  # noqa: BLE001 - any model error is the row's (or the model's) fault
                message = (
                    f"{type(exc).__name__}: {first_line(exc)}" if str(exc).strip() else type(exc).__name__
                )
                if stop - start == 1:
                    refused[start] = message
                    return message if len(refused) >= limit else None
                middle = (start + stop) // 2
                return run(start, middle) or run(middle, stop)

        stopped = run(0, len(X))
        fatal = None
        if stopped is not None and limit > 1:
            fatal = f"the model refused {len(refused)} rows of one chunk, e.g. {stopped}"
        return parts, refused, fatal

    def _blame(self, good: pd.DataFrame, local: int, message: str) -> tuple[str, str]:
        """The column to blame when the model refuses a row: an unseen categorical level if any."""
        for spec in self.specs:
            if not spec.categorical or not spec.categories or spec.categories_truncated:
                continue
            value = good[spec.name].iat[local]
            if value is not None and value == value and value not in spec.categories:
                return spec.name, f"unknown level {value!r} refused by the model ({message})"
        return "(model)", f"the model could not score this row ({message})"

    def _output(self, good: pd.DataFrame, parts: list[Predictions]) -> pa.Table:
        import numpy as np
        import pyarrow as pa

        schema = self.output_schema()
        n = len(good)
        values = np.concatenate([p.values for p in parts]) if parts else np.empty(0)
        columns: list[Any] = [
            pa.array(good[name], type=schema.field(name).type, from_pandas=True) for name in self.key_columns
        ]
        columns.append(_as_arrow(values, schema.field(PREDICTION).type))
        if self.probability_columns:
            width = len(self.probability_columns)
            proba = np.empty((0, width))
            if parts:
                proba = np.concatenate([_proba(p, self.classes) for p in parts])
            columns += [pa.array(proba[:, i], pa.float64()) for i in range(len(self.probability_columns))]
        identity = self.identity
        for value in (identity.name, identity.version, identity.run_id):
            columns.append(pa.repeat(pa.scalar(value, pa.string()), n))
        columns.append(pa.repeat(pa.scalar(self.scored_at, schema.field("scored_at").type), n))
        return pa.Table.from_arrays(columns, schema=schema)

    def _rejects(self, chunk: pa.Table, problems: Problems, rows: list[int], first_row: int) -> pa.Table:
        import pyarrow as pa

        schema = self.reject_schema()
        if not rows:
            return schema.empty_table()
        taken = chunk.take(pa.array(rows, pa.int64()))
        arrays: list[Any] = [
            pa.array([first_row + r for r in rows], pa.int64()),
            pa.array([problems.first_column[r] for r in rows], pa.string()),
            pa.array(["; ".join(problems.reasons[r]) for r in rows], pa.string()),
        ]
        arrays += [_as_text(taken[name]) for name in self.input_columns]
        return pa.Table.from_arrays(arrays, schema=schema)


def _proba(predictions: Predictions, classes: list[Any] | None) -> np.ndarray:
    import numpy as np

    assert predictions.probabilities is not None and classes is not None
    order = [list(map(_plain, predictions.classes or [])).index(c) for c in classes]
    return np.asarray(predictions.probabilities)[:, order]


def _as_arrow(values: np.ndarray, arrow: pa.DataType) -> pa.Array:
    import pyarrow as pa

    return pa.array(values.tolist() if values.dtype == object else values, type=arrow, from_pandas=True)


def _as_text(column: pa.ChunkedArray) -> pa.Array:
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        return pc.cast(column, pa.string()).combine_chunks()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pa.array([None if v is None else str(v) for v in column.to_pylist()], pa.string())


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value
