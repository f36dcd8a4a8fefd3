"""Score validated records with a loaded model: rows in, JSON-ready results out.

Thread-safe by construction: nothing is stored on the model or the pipeline; every call builds its
own frame, so concurrent requests and micro-batches never share state.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mmp.core.model_store import LoadedModel
from mmp.core.scoring import columns_frame, predict
from mmp.serving.columns import Columns
from mmp.serving.schema import example_record


class UnscorableInput(ValueError):
    """The pipeline rejected values that passed the schema (an unseen category, an overflow).

    `index` is the position of the first record the model cannot score, when known.
    """

    def __init__(self, message: str, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


@dataclass(frozen=True)
class ServedModel:
    """One loaded model version and everything derived from it once, at load time."""

    loaded: LoadedModel
    loaded_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @property
    def label(self) -> str:
        """A short version label for metrics and headers: the registry version, else the run id."""
        ident = self.loaded.identity
        return ident.version or (ident.run_id[:12] if ident.run_id else "local")

    def ref(self) -> dict[str, Any]:
        ident = self.loaded.identity
        return {"name": ident.name, "version": ident.version, "run_id": ident.run_id}


def serve_model(loaded: LoadedModel) -> ServedModel:
    return ServedModel(loaded)


_thread = threading.local()


def one_numeric_thread() -> None:
    """Score with one OpenMP thread in this thread (OpenMP's thread count is per calling thread).

    A request is a few rows: splitting it over cores only adds synchronisation, and on a busy
    machine an OpenMP team waiting for a descheduled member made a one-row HistGradientBoosting
    call ~7x slower at the median and ~30x at p99. A server scales over cores with `--workers`.
    """
    if getattr(_thread, "limited", False):
        return
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="openmp")
    _thread.limited = True


def score_rows(model: ServedModel, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One pipeline call for all rows; raises `UnscorableInput` when the pipeline rejects the values."""
    return score_columns(model, Columns.from_rows(model.loaded.contract.request_columns, rows))


def score_columns(model: ServedModel, columns: Columns) -> list[dict[str, Any]]:
    """One pipeline call for all records; raises `UnscorableInput` when the pipeline rejects them."""
    import numpy as np

    one_numeric_thread()

    contract = model.loaded.contract
    try:
        # Extreme (but finite, schema-valid) values overflow inside scalers: let them become inf
        # quietly (numpy's errstate is per thread) so scikit-learn's own input check reports them.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            out = predict(model.loaded.pipeline, contract, columns_frame(contract, columns.values))
    except (ValueError, OverflowError) as exc:
        # scikit-learn raises ValueError for input it cannot handle (unknown categories, values
        # beyond float32): the client's data, not a broken model. Everything else is a model bug.
        raise UnscorableInput(_first_line(exc)) from exc
    values = out.values
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        first = int(np.flatnonzero(~np.isfinite(values))[0])
        raise UnscorableInput("the model returned a non-finite prediction for this input", first)
    predictions = [_plain(v) for v in values.tolist()]
    entities = contract.entity_columns
    if out.probabilities is None and not entities:
        return [{"prediction": p} for p in predictions]
    results: list[dict[str, Any]] = [{"prediction": p} for p in predictions]
    if out.probabilities is not None:
        class_keys = [str(_plain(c)) for c in (out.classes or [])]
        for item, row in zip(results, out.probabilities.tolist(), strict=True):
            item["probabilities"] = dict(zip(class_keys, row, strict=True))
    if entities:
        echoed = [[_jsonable(v) for v in columns.values[name]] for name in entities]
        for item, record in zip(results, zip(*echoed, strict=True), strict=True):
            item["entities"] = dict(zip(entities, record, strict=True))
    return results


def score_isolating(model: ServedModel, columns: Columns) -> list[dict[str, Any]]:
    """Score records; if the pipeline rejects them, find the first record it cannot score by
    bisection (about log2(n) extra calls) so the error can name it."""
    try:
        return score_columns(model, columns)
    except UnscorableInput as exc:
        if columns.n == 1:
            raise UnscorableInput(str(exc), 0) from exc.__cause__
        if exc.index is not None:
            raise
        lo, hi = 0, columns.n  # the first bad record is in [lo, hi)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            try:
                score_columns(model, columns.slice(lo, mid))
                lo = mid
            except UnscorableInput:
                hi = mid
        try:
            score_columns(model, columns.slice(lo, hi))
        except UnscorableInput as single:
            raise UnscorableInput(str(single), lo) from single.__cause__
        raise  # no single record fails on its own: report the batch as a whole


def warm_up(model: ServedModel) -> None:
    """Score the input example (all rows, then one) so the first real request pays no first-call costs,
    and so a model that cannot score its own training example is never served."""
    from mmp.core.conformance import convert

    contract = model.loaded.contract
    record = example_record(contract)
    row = {name: convert(contract.column(name).rule(), value) for name, value in record.items()}
    score_rows(model, [row, row])
    score_rows(model, [row])


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _first_line(exc: BaseException) -> str:
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return text if len(text) <= 300 else text[:297] + "..."
