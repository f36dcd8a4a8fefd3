"""`mmp monitor` as functions: stream data into per-window counts, then score each window.

Two steps with one seam between them: `summarise` turns record batches into mergeable
`WindowState`s (the local engine here, Spark in `mmp.monitoring.spark`), and `evaluate` turns the
states into the report document (drift scores, rates, realized and estimated metrics, alerts). The
same states give the same document whichever engine produced them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from mmp.core.errors import MmpError, first_line
from mmp.monitoring import drift
from mmp.monitoring.profile import (
    CONFIDENCE,
    PREDICTION,
    PROBABILITY_PREFIX,
    ColumnProfile,
    ReferenceProfile,
    profiled_columns,
)
from mmp.monitoring.sketch import ColumnBins, ColumnCounts, as_float, as_text, count, level_text
from mmp.monitoring.windows import WindowState

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa
    import pyarrow.dataset as ds

    from mmp.recipe.monitoring import Monitoring

REPORT_FORMAT = 1
ALERT_EXIT_CODE = 3
LOG_TIME_COLUMN = "served_at"
REQUEST_ID = "request_id"
LABEL = "label"
_DURATION = re.compile(r"^\s*(\d+)\s*(m|h|d|w)\s*$", re.I)
_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(text: str, what: str) -> timedelta:
    """`30m`, `6h`, `1d`, `2w`."""
    match = _DURATION.match(text)
    if not match or int(match[1]) == 0:
        raise MmpError(f"{what}: '{text}' is not a duration", "use e.g. 30m, 6h, 1d or 2w")
    return timedelta(seconds=int(match[1]) * _UNITS[match[2].lower()])


def parse_since(text: str, now: datetime) -> datetime:
    """A duration back from now (`30d`) or a date/time (`2026-01-31`, ISO 8601, UTC unless given)."""
    if _DURATION.match(text):
        return now - parse_duration(text, "--since")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise MmpError(
            f"--since: '{text}' is neither a duration nor a date", "use e.g. 30d or 2026-01-31"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Labels:
    """Ground truth keyed by request id or by entity values (+ the window of the label's timestamp)."""

    keys: pa.Array  # text keys
    values: pa.Array  # text labels (classifiers) or float64 (regressors)
    by: str  # "request_id" or "entities"
    entity_columns: tuple[str, ...] = ()
    windowed: bool = False
    rows: int = 0


@dataclass(frozen=True)
class Plan:
    """What to read and how to bucket it, decided once from the profile and the data's schema."""

    columns: dict[str, ColumnBins]
    prediction: dict[str, ColumnBins]
    probability_columns: tuple[str, ...]
    time_column: str | None
    window_us: int | None
    since_us: int | None
    until_us: int | None
    labels: Labels | None
    classifier: bool

    def read_columns(self, schema_names: Iterable[str]) -> list[str]:
        names = [*self.columns, *self.probability_columns]
        if PREDICTION in self.prediction:
            names.append(PREDICTION)
        if self.time_column:
            names.append(self.time_column)
        if self.labels is not None:
            names += [REQUEST_ID] if self.labels.by == REQUEST_ID else list(self.labels.entity_columns)
        available = set(schema_names)
        return [n for n in dict.fromkeys(names) if n in available]


def plan(
    profile: ReferenceProfile,
    schema: pa.Schema,
    where: str,
    window: str | None = None,
    since: str | None = None,
    until: str | None = None,
    time_column: str | None = None,
    labels: Labels | None = None,
    now: datetime | None = None,
) -> Plan:
    """Check the data against the model and decide columns, time and windows (errors name the fields)."""
    contract = profile.contract
    names = set(schema.names)
    missing = [c for c in profiled_columns(contract) if c not in names]
    if missing:
        shown = ", ".join(f"'{c}'" for c in missing[:8]) + (" ..." if len(missing) > 8 else "")
        raise MmpError(
            f"{where}: no column {shown} that model '{contract.name}' takes as input "
            f"(is this the log or data of another model?)",
            "pass data with the model's input columns, or the matching --model-uri / --reference-profile",
        )
    if time_column is None:
        if LOG_TIME_COLUMN in names:
            time_column = LOG_TIME_COLUMN
        elif contract.by_role("timestamp") and contract.by_role("timestamp")[0].name in names:
            time_column = contract.by_role("timestamp")[0].name
    elif time_column not in names:
        raise MmpError(f"{where}: --time-column '{time_column}' is not a column", "name a timestamp column")
    if time_column is None and (window or since or until):
        raise MmpError(
            f"{where}: --window/--since/--until need a time column and this data has none",
            "pass --time-column NAME, or drop those options (the whole data is then one window)",
        )
    now = now or datetime.now(UTC)
    window_us = int(parse_duration(window or "1d", "--window").total_seconds() * 1e6) if time_column else None
    classifier = contract.task == "classification"
    prediction = {
        name: col.bins()
        for name, col in profile.prediction.items()
        if (name == PREDICTION and PREDICTION in names) or name == CONFIDENCE
    }
    probability_columns = (
        tuple(n for n in schema.names if n.startswith(PROBABILITY_PREFIX)) if classifier else ()
    )
    if not probability_columns:
        prediction.pop(CONFIDENCE, None)
    if labels is not None and labels.by == REQUEST_ID and REQUEST_ID not in names:
        raise MmpError(f"{where}: labels join by request_id but the data has no request_id column")
    return Plan(
        columns={n: profile.columns[n].bins() for n in profiled_columns(contract)},
        prediction=prediction,
        probability_columns=probability_columns,
        time_column=time_column,
        window_us=window_us,
        since_us=_us(parse_since(since, now)) if since else None,
        until_us=_us(parse_since(until, now)) if until else None,
        labels=labels,
        classifier=classifier,
    )


def _us(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


def epoch_us(array: pa.Array | pa.ChunkedArray, where: str) -> np.ndarray:
    """Microseconds since the epoch (UTC) of a timestamp, date or date-like text column; NaT -> min."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = array.type
    if pa.types.is_timestamp(kind):
        values = pc.cast(pc.cast(array, pa.timestamp("us", kind.tz)), pa.int64())
    elif pa.types.is_date(kind):
        values = pc.cast(pc.cast(array, pa.timestamp("us")), pa.int64())
    else:
        parsed = pd.to_datetime(
            pd.Series(as_text(array).to_pylist()), utc=True, errors="coerce", format="mixed"
        )
        if parsed.isna().all() and len(parsed):
            raise MmpError(f"{where}: the time column holds no dates", "pass --time-column NAME")
        return np.asarray(parsed.astype("int64") // 1000, dtype="int64")
    out = values.to_numpy(zero_copy_only=False)
    return np.asarray(np.nan_to_num(out, nan=np.iinfo("int64").min), dtype="int64")


def summarise(
    dataset: ds.Dataset,
    plan_: Plan,
    where: str,
    batch_rows: int = 262_144,
    on_rows: Callable[[int], None] | None = None,
) -> dict[int | None, WindowState]:
    """Stream the dataset once, adding every row to its window's counts (memory: one batch + counts)."""
    import pyarrow as pa

    columns = plan_.read_columns(dataset.schema.names)
    states: dict[int | None, WindowState] = {}
    try:
        # little read-ahead: memory stays one or two batches, whatever the size of the log
        batches = (
            batch
            for fragment in dataset.get_fragments()
            for batch in fragment.to_batches(
                schema=dataset.schema,
                columns=columns,
                batch_size=batch_rows,
                batch_readahead=1,
                fragment_readahead=1,
            )
        )
        for batch in batches:
            add_batch(states, batch, plan_, where)
            if on_rows is not None:
                on_rows(batch.num_rows)
    except (OSError, pa.ArrowInvalid) as exc:
        raise MmpError(f"{where}: cannot read: {first_line(exc)}", "check the files") from None
    return states


def add_batch(states: dict[int | None, WindowState], batch: pa.RecordBatch, plan_: Plan, where: str) -> None:
    """Add one record batch to the states of the windows its rows fall in (any engine, any batch)."""
    import numpy as np
    import pyarrow as pa

    if batch.num_rows == 0:
        return
    if plan_.time_column is None:
        _add(states, None, batch, plan_, where)
        return
    t = epoch_us(batch.column(plan_.time_column), where)
    keep = t != np.iinfo("int64").min
    if plan_.since_us is not None:
        keep &= t >= plan_.since_us
    if plan_.until_us is not None:
        keep &= t < plan_.until_us
    assert plan_.window_us is not None
    ids = t // plan_.window_us
    present = np.unique(ids[keep])
    for w in present:
        mask = keep & (ids == w)
        part = batch if mask.all() else batch.filter(pa.array(mask))
        _add(states, int(w) * plan_.window_us, part, plan_, where)


def merge_states(into: dict[int | None, WindowState], partial: WindowState, plan_: Plan) -> None:
    """Merge a partial window state (e.g. one Spark partition's) into `into`, as `summarise` does."""
    state = into.get(partial.start_us)
    if state is None:
        state = into[partial.start_us] = WindowState.empty(partial.start_us, plan_.columns, plan_.prediction)
    state.merge(partial)


def _add(
    states: dict[int | None, WindowState], start: int | None, batch: pa.RecordBatch, p: Plan, where: str
) -> None:
    merge_states(states, summarise_batch(batch, p, start, where), p)


def summarise_batch(batch: pa.RecordBatch, p: Plan, start: int | None, where: str) -> WindowState:
    """One batch of one window as a `WindowState` (this is the per-partition work, any engine)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    state = WindowState(start, rows=batch.num_rows)
    for name, bins in p.columns.items():
        try:
            state.columns[name] = count(bins, batch.column(name))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, TypeError, ValueError) as exc:
            raise MmpError(
                f"{where}: column '{name}' cannot be read as {bins.kind}: {first_line(exc)}",
                "the data's types must match the model's contract",
            ) from None
    names = batch.schema.names
    if PREDICTION in p.prediction:
        state.prediction[PREDICTION] = count(p.prediction[PREDICTION], batch.column(PREDICTION))
    confidence = None
    if p.probability_columns:
        matrix = np.column_stack([as_float(batch.column(c)) for c in p.probability_columns])
        confidence = np.nanmax(matrix, axis=1) if matrix.size else None
        if confidence is not None:
            valid = ~np.isnan(confidence)
            state.confidence_sum = float(confidence[valid].sum())
            state.confidence_rows = int(valid.sum())
            if CONFIDENCE in p.prediction:
                state.prediction[CONFIDENCE] = count(p.prediction[CONFIDENCE], pa.array(confidence))
    labels = p.labels
    if labels is not None and PREDICTION in names:
        keys = _keys(batch, labels, start)
        index = pc.index_in(keys, value_set=labels.keys)
        matched = index.is_valid()
        if pc.any(matched).as_py():
            taken = labels.values.take(pc.filter(index, matched))
            predicted = pc.filter(batch.column(PREDICTION), matched)
            state.labeled = len(taken)
            if p.classifier:
                state.correct = int(pc.sum(pc.equal(as_text(predicted), taken)).as_py() or 0)
            else:
                err = as_float(predicted) - as_float(taken)
                state.abs_error = float(np.abs(err).sum())
                state.sq_error = float(np.dot(err, err))
    return state


def _keys(batch: pa.RecordBatch, labels: Labels, start: int | None) -> pa.Array:
    import pyarrow as pa
    import pyarrow.compute as pc

    if labels.by == REQUEST_ID:
        return as_text(batch.column(REQUEST_ID))
    parts = [as_text(batch.column(c)) for c in labels.entity_columns]
    if labels.windowed:
        parts.append(pa.array([str(start)] * batch.num_rows))
    return pc.binary_join_element_wise(*parts, "\x1f")


def load_labels(
    source: str, profile: ReferenceProfile, window: str | None, time_column: str | None = None
) -> Labels:
    """Read a labels log or any labelled file; check every label against the target's type."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from mmp.monitoring.sources import open_dataset

    contract = profile.contract
    table = open_dataset(source, "--labels").to_table()
    names = table.schema.names
    value_column = (
        LABEL if LABEL in names else contract.target_column if contract.target_column in names else None
    )
    if value_column is None:
        raise MmpError(
            f"--labels {source}: no '{LABEL}' column (nor the target '{contract.target_column}')",
            "labels need request_id + label, or the entity columns + label",
        )
    entities = contract.entity_columns
    if REQUEST_ID in names and pc.any(pc.is_valid(table[REQUEST_ID])).as_py():
        table = table.filter(pc.is_valid(table[REQUEST_ID]))
        keys, by, windowed = as_text(table[REQUEST_ID]), REQUEST_ID, False
    elif entities and all(c in names for c in entities):
        windowed = bool(window) and "timestamp" in names
        parts = [as_text(table[c]) for c in entities]
        if windowed:
            from mmp.monitoring.monitor import epoch_us as _epoch

            width = int(parse_duration(window or "1d", "--window").total_seconds() * 1e6)
            starts = (_epoch(table["timestamp"], "--labels") // width) * width
            parts.append(pa.array([str(s) for s in starts]))
        keys, by = pc.binary_join_element_wise(*parts, "\x1f"), "entities"
    else:
        wanted = " + ".join(entities) if entities else "(the model has no entity columns)"
        raise MmpError(
            f"--labels {source}: no request_id column, nor the entity columns {wanted}",
            "labels join to predictions by request_id, or by entity columns (+ timestamp)",
        )
    values = _checked_labels(table[value_column], profile, source, value_column)
    return Labels(
        keys=keys.combine_chunks() if hasattr(keys, "combine_chunks") else keys,
        values=values,
        by=by,
        entity_columns=tuple(entities) if by == "entities" else (),
        windowed=windowed if by == "entities" else False,
        rows=table.num_rows,
    )


def _checked_labels(column: pa.ChunkedArray, profile: ReferenceProfile, source: str, name: str) -> pa.Array:
    import pyarrow as pa
    import pyarrow.compute as pc

    contract = profile.contract
    if contract.task == "classification":
        text = as_text(column).combine_chunks()
        classes = [level_text(c) for c in contract.classes or []]
        if classes:
            bad = pc.invert(pc.is_in(text, value_set=pa.array(classes)))
            bad = pc.or_kleene(bad, pc.is_null(text))
            if pc.any(bad).as_py():
                row = pc.index(bad, True).as_py()
                raise MmpError(
                    f"--labels {source}: row {row}: {name} {text[row].as_py()!r} is not a class of the model "
                    f"(classes: {', '.join(classes[:10])})",
                    "send labels of the same type and spelling as the training target",
                )
        return text
    try:
        return pc.cast(column, pa.float64()).combine_chunks()
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        text = as_text(column).combine_chunks().to_pylist()
        for row, value in enumerate(text):
            try:
                float(value)
            except (TypeError, ValueError):
                raise MmpError(
                    f"--labels {source}: row {row}: {name} {value!r} is not a number "
                    f"(the target '{contract.target_column}' of a {contract.task} model)",
                    "send numeric labels",
                ) from None
        raise


# ---------------------------------------------------------------------------------------- scoring


def evaluate(
    profile: ReferenceProfile, states: dict[int | None, WindowState], p: Plan, source: str
) -> dict[str, Any]:
    """The report document: one entry per window, with scores, rates, metrics and alerts."""
    if not states or all(s.rows == 0 for s in states.values()):
        span = ""
        if p.since_us is not None or p.until_us is not None:
            span = f" between {_iso(p.since_us) or 'the start'} and {_iso(p.until_us) or 'now'}"
        raise MmpError(
            f"{source}: no rows to monitor{span}", "widen --since/--until, or check the data source"
        )
    settings = profile.settings
    cal = profile.performance.calibration
    calibrated = cal is not None and cal.ece <= settings.calibration_tolerance
    windows = []
    for start in sorted(states, key=lambda s: -1 if s is None else s):
        windows.append(_window(profile, states[start], p, calibrated))
    alerts = [{"window": w["start"], "message": m} for w in windows for m in w["alerts"]]
    return {
        "format_version": REPORT_FORMAT,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": {"name": profile.contract.name, "task": profile.contract.task},
        "data": source,
        "reference": {"source": profile.source, "rows": profile.rows},
        "window": _window_name(p.window_us),
        "time_column": p.time_column,
        "settings": profile.settings.model_dump(mode="json"),
        "calibration": {
            "checked": cal is not None,
            "ece": cal.ece if cal else None,
            "tolerance": settings.calibration_tolerance,
            "calibrated": calibrated,
            "validation_accuracy": profile.performance.accuracy,
        },
        "labels": {"rows": p.labels.rows, "joined_by": p.labels.by} if p.labels else None,
        "status": "alert" if alerts else "ok",
        "alerts": alerts,
        "windows": windows,
    }


def _window_name(width_us: int | None) -> str | None:
    if width_us is None:
        return None
    seconds = width_us // 1_000_000
    for unit, size in (("w", 7 * 86400), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _iso(us: int | None) -> str | None:
    if us is None:
        return None
    return datetime.fromtimestamp(us / 1e6, UTC).isoformat(timespec="seconds")


def score_column(
    reference: ColumnProfile,
    current: ColumnCounts,
    settings: Monitoring,
    psi_limit: float,
    distance_limit: float,
) -> dict[str, Any]:
    """Drift scores and rates of one column in one window."""
    out: dict[str, Any] = {
        "kind": reference.kind,
        "rows": current.rows,
        "missing_rate": current.missing / current.rows if current.rows else None,
        "reference_missing_rate": reference.missing_rate,
        "psi": None,
        "distance": None,
        "distance_name": "wasserstein" if reference.kind == "numeric" else "jensen_shannon",
        "drifted": False,
    }
    if reference.kind == "numeric":
        out["out_of_range_rate"] = current.outside / current.present if current.present else None
        out["mean"] = current.mean()
        out["reference_mean"] = reference.mean
    else:
        out["unseen_rate"] = current.outside / current.present if current.present else None
        out["unseen_levels"] = sorted(current.unseen, key=lambda k: -current.unseen[k])[:5]
    bins = reference.bins()
    out["distribution"] = {
        "bins": bins.labels(),
        "reference": [round(s, 6) for s in drift.shares(reference.counts)],
        "current": [round(s, 6) for s in drift.shares(current.counts)],
    }
    if current.present == 0 or sum(reference.counts) == 0:
        return out
    out["psi"] = drift.psi(reference.counts, current.counts)
    if reference.kind == "numeric":
        centres = drift.bin_centres(bins.edges, reference.min or 0.0, reference.max or 0.0)
        out["distance"] = drift.wasserstein_binned(
            reference.counts, current.counts, centres, reference.std or 0.0
        )
    else:
        out["distance"] = drift.jensen_shannon(reference.counts, current.counts)
    out["drifted"] = settings.drifted(out["psi"], out["distance"], psi_limit, distance_limit)
    return out


def _window(profile: ReferenceProfile, state: WindowState, p: Plan, calibrated: bool) -> dict[str, Any]:
    settings = profile.settings
    columns: dict[str, Any] = {}
    reasons: list[str] = []
    for name, counts in state.columns.items():
        psi_limit, distance_limit, ignored = settings.thresholds(name)
        scored = score_column(profile.columns[name], counts, settings, psi_limit, distance_limit)
        scored["ignored"] = ignored
        if ignored:
            scored["drifted"] = False
        columns[name] = scored
        if scored["drifted"] and settings.alert_on_column_drift:
            reasons.append(
                f"column '{name}' drifted (PSI {scored['psi']:.3f}, {scored['distance_name']} "
                f"{scored['distance']:.3f}; thresholds {psi_limit:g} / {distance_limit:g})"
            )
        if not ignored:
            rate, ref_rate = scored["missing_rate"], scored["reference_missing_rate"]
            if rate is not None and rate > ref_rate + settings.missing_rate_increase:
                reasons.append(f"column '{name}' is missing in {rate:.1%} of rows (training: {ref_rate:.1%})")
            outside = scored.get("out_of_range_rate", scored.get("unseen_rate"))
            if outside is not None and outside >= settings.out_of_range_rate:
                what = (
                    "outside the training range"
                    if scored["kind"] == "numeric"
                    else "levels training never saw"
                )
                reasons.append(f"column '{name}': {outside:.1%} of values are {what}")
    monitored = [c for c in columns.values() if not c["ignored"]]
    drifted = [n for n, c in columns.items() if c["drifted"]]
    share = len(drifted) / len(monitored) if monitored else 0.0
    if share >= settings.drift_share_threshold and not settings.alert_on_column_drift:
        reasons.append(
            f"{share:.0%} of input columns drifted (threshold {settings.drift_share_threshold:.0%})"
        )
    prediction: dict[str, Any] = {}
    for name, counts in state.prediction.items():
        scored = score_column(
            profile.prediction[name], counts, settings, settings.psi_threshold, settings.distance_threshold
        )
        prediction[name] = scored
        if scored["drifted"]:
            reasons.append(
                f"{'the prediction' if name == PREDICTION else 'the model confidence'} drifted "
                f"(PSI {scored['psi']:.3f}, {scored['distance_name']} {scored['distance']:.3f})"
            )
    realized, estimated = _metrics(profile, state, p, calibrated, reasons)
    enough = state.rows >= settings.min_window_rows
    return {
        "start": _iso(state.start_us),
        "end": _iso(state.start_us + p.window_us) if state.start_us is not None and p.window_us else None,
        "rows": state.rows,
        "status": ("alert" if reasons else "ok") if enough else "too_few_rows",
        "alerts": reasons if enough else [],
        "notes": [] if enough else [f"fewer than {settings.min_window_rows} rows: no alerts", *reasons],
        "drift_share": share,
        "data_drift": share >= settings.drift_share_threshold,
        "drifted_columns": drifted,
        "columns": columns,
        "prediction": prediction,
        "realized": realized,
        "estimated": estimated,
    }


def _metrics(
    profile: ReferenceProfile, state: WindowState, p: Plan, calibrated: bool, reasons: list[str]
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    import math

    perf, drop = profile.performance, profile.settings.performance_drop
    realized: dict[str, Any] | None = None
    if state.labeled:
        realized = {"labeled_rows": state.labeled}
        if p.classifier:
            realized["accuracy"] = state.correct / state.labeled
            if perf.accuracy is not None and realized["accuracy"] < perf.accuracy - drop:
                reasons.append(
                    f"realized accuracy {realized['accuracy']:.3f} is below validation "
                    f"{perf.accuracy:.3f} - {drop:g}"
                )
        else:
            realized["mae"] = state.abs_error / state.labeled
            realized["rmse"] = math.sqrt(state.sq_error / state.labeled)
            if perf.mae is not None and realized["mae"] > perf.mae * (1 + drop):
                reasons.append(
                    f"realized MAE {realized['mae']:.4g} is above validation {perf.mae:.4g} × {1 + drop:g}"
                )
    estimated = None
    if p.classifier and state.confidence_rows:
        estimated = {
            "accuracy": state.confidence_sum / state.confidence_rows,
            "rows": state.confidence_rows,
            "calibrated": calibrated,
        }
        # CBPE compares an estimate with the estimate on the validation split (same bias on both)
        baseline = perf.calibration.expected_accuracy if perf.calibration else None
        if calibrated and baseline is not None and estimated["accuracy"] < baseline - drop:
            reasons.append(
                f"estimated accuracy {estimated['accuracy']:.3f} is below its validation value "
                f"{baseline:.3f} - {drop:g}"
            )
    return realized, estimated
