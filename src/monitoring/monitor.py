"""`mmp monitor` as functions: stream data into per-window counts, then score each window.

Two steps with one seam between them: `summarise` turns record batches into mergeable
`WindowState`s (the local engine here, Spark in `mmp.monitoring.spark`), and `evaluate` turns the
states into the report document (drift scores, rates, realized and estimated metrics, alerts). The
same states give the same document whichever engine produced them.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from mmp.core.errors import MmpError, first_line
from mmp.core.metrics import get_metric
from mmp.monitoring import drift
from mmp.monitoring.profile import (
    CONFIDENCE,
    PREDICTION,
    PROBABILITY_PREFIX,
    ColumnProfile,
    ReferenceProfile,
    profiled_columns,
)
from mmp.monitoring.realized import REQUEST_ID, LabelJoinSpec, realized_metric_names
from mmp.monitoring.sketch import ColumnBins, ColumnCounts, as_float, as_text, count
from mmp.monitoring.windows import WindowState

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa
    import pyarrow.dataset as ds

    from mmp.monitoring.realized import LabelJoin
    from mmp.recipe.monitoring import Monitoring

REPORT_FORMAT = 1
ALERT_EXIT_CODE = 3
LOG_TIME_COLUMN = "served_at"
_DURATION = re.compile(r"^\s*(\d+)\s*(m|h|d|w)\s*$", re.I)
_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
NO_TIME = -(2**63)  # epoch_us of a missing time: such rows belong to no window


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
class Plan:
    """What to read and how to bucket it, decided once from the profile and the data's schema."""

    columns: dict[str, ColumnBins]
    prediction: dict[str, ColumnBins]
    probability_columns: tuple[str, ...]
    time_column: str | None
    window_us: int | None
    since_us: int | None
    until_us: int | None
    labels: LabelJoinSpec | None
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
    labels: LabelJoinSpec | None = None,
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
    if labels is not None:
        wanted = [REQUEST_ID] if labels.by == REQUEST_ID else list(labels.entity_columns)
        absent = [c for c in wanted if c not in names]
        if absent:
            raise MmpError(
                f"{where}: labels join by {', '.join(absent)} but the data has no such column",
                "monitor the prediction log (it has request_id), or data with the entity columns",
            )
        if PREDICTION not in names:
            raise MmpError(
                f"{where}: labels were given but the data has no '{PREDICTION}' column to judge",
                "monitor the prediction log or batch-inference output",
            )
        if labels.windowed and time_column is None:
            labels = dataclasses.replace(labels, windowed=False)
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
    """Microseconds since the epoch (UTC) of a timestamp, date or date-like text column; NaT -> NO_TIME."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = array.type
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        if pa.types.is_date(kind) or kind.unit != "us":
            array = pc.cast(array, pa.timestamp("us", kind.tz if pa.types.is_timestamp(kind) else None))
        values = pc.cast(array, pa.int64())
        if values.null_count:
            values = values.fill_null(NO_TIME)
        if isinstance(values, pa.ChunkedArray):
            return np.asarray(values.to_numpy(), dtype="int64")
        return np.asarray(values.to_numpy(zero_copy_only=False), dtype="int64")
    parsed = pd.to_datetime(pd.Series(as_text(array).to_pylist()), utc=True, errors="coerce", format="mixed")
    if parsed.isna().all() and len(parsed):
        raise MmpError(f"{where}: the time column holds no dates", "pass --time-column NAME")
    us = np.array(parsed.dt.as_unit("us").astype("int64"), dtype="int64")  # (a writable copy)
    us[np.asarray(parsed.isna())] = NO_TIME
    return us


def default_workers() -> int:
    """Threads `summarise` uses: one per core, at most 8 (reading and counting release the GIL)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(8, cores))


def summarise(
    dataset: ds.Dataset,
    plan_: Plan,
    where: str,
    batch_rows: int = 262_144,
    on_rows: Callable[[int], None] | None = None,
    workers: int | None = None,
    join: LabelJoin | None = None,
) -> dict[int | None, WindowState]:
    """Stream the dataset once, adding every row to its window's counts (and to `join`, if labels).

    The data is cut into scan units (Parquet row groups, other files whole), summarised by `workers`
    threads (Arrow decoding and NumPy counting release the GIL), and the per-unit states are merged
    in unit order, so the result does not depend on timing. Memory: about one row group per worker,
    plus the counts, whatever the size of the log.
    """
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import pyarrow as pa

    columns = plan_.read_columns(dataset.schema.names)
    workers = workers or default_workers()
    lock = threading.Lock()

    def summarise_group(group: list[ds.Fragment]) -> dict[int | None, WindowState]:
        """Small pieces (a server's log is many small files) are put together into batches of
        about `batch_rows` rows first: the per-batch cost is paid once per batch, not per file."""
        states: dict[int | None, WindowState] = {}
        pending: list[pa.RecordBatch] = []
        waiting = 0

        def add(batch: pa.RecordBatch) -> None:
            add_batch(states, batch, plan_, where, join)
            if on_rows is not None:
                with lock:
                    on_rows(batch.num_rows)

        for unit in group:
            for batch in unit.to_batches(
                schema=scan_schema, columns=columns, batch_size=batch_rows, use_threads=False
            ):
                if not pending and batch.num_rows >= batch_rows // 2:
                    add(batch)
                    continue
                pending.append(batch)
                waiting += batch.num_rows
                if waiting >= batch_rows // 2:
                    add(_combined(pending))
                    pending, waiting = [], 0
        if pending:
            add(_combined(pending))
        return states

    states: dict[int | None, WindowState] = {}
    try:
        units, scan_schema = scan_units(dataset, plan_)
        groups = _grouped(units, batch_rows // 2)
        if workers == 1 or len(groups) == 1:
            for partial in map(summarise_group, groups):
                for state in partial.values():
                    merge_states(states, state, plan_)
        else:
            pool = ThreadPoolExecutor(workers, thread_name_prefix="mmp-monitor")
            try:
                for partial in pool.map(summarise_group, groups):
                    for state in partial.values():
                        merge_states(states, state, plan_)
            finally:  # on an error, units not started yet are dropped rather than read in vain
                pool.shutdown(wait=True, cancel_futures=True)
    except (OSError, pa.ArrowInvalid) as exc:
        raise MmpError(f"{where}: cannot read: {first_line(exc)}", "check the files") from None
    return states


def _combined(batches: list[pa.RecordBatch]) -> pa.RecordBatch:
    """One batch of several (dictionary columns get one unified dictionary)."""
    import pyarrow as pa

    if len(batches) == 1:
        return batches[0]
    return pa.Table.from_batches(batches).combine_chunks().to_batches()[0]


def _grouped(units: list[tuple[ds.Fragment, int | None]], rows: int) -> list[list[ds.Fragment]]:
    """Consecutive units put together until a group holds `rows` rows (unknown size: alone)."""
    groups: list[list[ds.Fragment]] = []
    current: list[ds.Fragment] = []
    held = 0
    for unit, size in units:
        if size is None:
            if current:
                groups.append(current)
                current, held = [], 0
            groups.append([unit])
            continue
        current.append(unit)
        held += size
        if held >= rows:
            groups.append(current)
            current, held = [], 0
    if current:
        groups.append(current)
    return groups


def scan_units(dataset: ds.Dataset, plan_: Plan) -> tuple[list[tuple[ds.Fragment, int | None]], pa.Schema]:
    """The dataset as independent pieces of work, and the schema to read them with.

    Parquet files are split into row groups, and text columns that are counted by level are read
    as dictionaries (Parquet stores them so): counting them never builds a string per row.
    """
    import pyarrow as pa
    import pyarrow.dataset as ds

    fragments = list(dataset.get_fragments())
    if not fragments or not isinstance(dataset.format, ds.ParquetFileFormat):
        return [(fragment, None) for fragment in fragments], dataset.schema
    level_columns = [
        name
        for name, bins in {**plan_.columns, **plan_.prediction}.items()
        if bins.kind != "numeric"
        and name in dataset.schema.names
        and pa.types.is_string(dataset.schema.field(name).type)
    ]
    fmt = ds.ParquetFileFormat(read_options=ds.ParquetReadOptions(dictionary_columns=level_columns))
    schema = dataset.schema
    for name in level_columns:
        index = schema.get_field_index(name)
        schema = schema.set(index, schema.field(name).with_type(pa.dictionary(pa.int32(), pa.string())))
    units: list[tuple[ds.Fragment, int | None]] = []
    for fragment in fragments:
        for group in fragment.row_groups or [None]:
            unit = fmt.make_fragment(
                fragment.path,
                filesystem=fragment.filesystem,
                partition_expression=fragment.partition_expression,
                row_groups=None if group is None else [group.id],
            )
            units.append((unit, None if group is None else group.num_rows))
    return units, schema


def add_batch(
    states: dict[int | None, WindowState],
    batch: pa.RecordBatch,
    plan_: Plan,
    where: str,
    join: LabelJoin | None = None,
) -> None:
    """Add one record batch to the states of the windows its rows fall in (any engine, any batch)."""
    for start, part in split_windows(batch, plan_, where):
        merge_states(states, summarise_batch(part, plan_, start, where), plan_)
        if join is not None:
            join.add(start, part)


def stream_batches(
    batches: Iterable[pa.RecordBatch | pa.Table],
    plan_: Plan,
    where: str,
    on_rows: Callable[[int], None] | None = None,
    join: LabelJoin | None = None,
) -> dict[int | None, WindowState]:
    """Summarise batches that come one after another (a SQL query's), in this thread."""
    import pyarrow as pa

    states: dict[int | None, WindowState] = {}
    for item in batches:
        for batch in item.to_batches() if isinstance(item, pa.Table) else [item]:
            add_batch(states, batch, plan_, where, join)
            if on_rows is not None:
                on_rows(batch.num_rows)
    return states


def join_labels(dataset: ds.Dataset, plan_: Plan, where: str, join: LabelJoin, batch_rows: int) -> None:
    """Feed the labels' join alone (the Spark engine counts the rest): only the columns it needs."""
    import pyarrow as pa

    assert plan_.labels is not None
    wanted = [plan_.time_column, PREDICTION, *plan_.probability_columns]
    wanted += [REQUEST_ID] if plan_.labels.by == REQUEST_ID else list(plan_.labels.entity_columns)
    columns = [c for c in dict.fromkeys(wanted) if c is not None and c in dataset.schema.names]
    try:
        for batch in dataset.to_batches(columns=columns, batch_size=batch_rows):
            for start, part in split_windows(batch, plan_, where):
                join.add(start, part)
    except (OSError, pa.ArrowInvalid) as exc:
        raise MmpError(f"{where}: cannot read: {first_line(exc)}", "check the files") from None


def split_windows(
    batch: pa.RecordBatch, plan_: Plan, where: str
) -> Iterator[tuple[int | None, pa.RecordBatch]]:
    """(window start, its rows) for each window the batch's rows fall in; rows out of range dropped."""
    import numpy as np
    import pyarrow as pa

    if batch.num_rows == 0:
        return
    if plan_.time_column is None:
        yield None, batch
        return
    t = epoch_us(batch.column(plan_.time_column), where)
    assert plan_.window_us is not None
    ids = t // plan_.window_us
    timed = batch.column(plan_.time_column).null_count == 0 and int(t.min()) != NO_TIME
    keep = None if timed else t != NO_TIME
    if plan_.since_us is not None:
        keep = (t >= plan_.since_us) if keep is None else keep & (t >= plan_.since_us)
    if plan_.until_us is not None:
        keep = (t < plan_.until_us) if keep is None else keep & (t < plan_.until_us)
    if keep is None or keep.all():
        low, high = int(ids.min()), int(ids.max())
        if low == high:  # the usual case: a batch of a time-ordered log inside one window
            yield low * plan_.window_us, batch
            return
        present = np.unique(ids)
    else:
        present = np.unique(ids[keep])
    for w in present:
        mask = ids == w if keep is None else keep & (ids == w)
        yield int(w) * plan_.window_us, batch.filter(pa.array(mask))


def merge_states(into: dict[int | None, WindowState], partial: WindowState, plan_: Plan) -> None:
    """Merge a partial window state (e.g. one Spark partition's) into `into`, as `summarise` does."""
    state = into.get(partial.start_us)
    if state is None:
        state = into[partial.start_us] = WindowState.empty(partial.start_us, plan_.columns, plan_.prediction)
    state.merge(partial)


def summarise_batch(batch: pa.RecordBatch, p: Plan, start: int | None, where: str) -> WindowState:
    """One batch of one window as a `WindowState` (this is the per-partition work, any engine)."""
    import numpy as np
    import pyarrow as pa

    state = WindowState(start, rows=batch.num_rows)
    for name, bins in p.columns.items():
        try:
            state.columns[name] = count(bins, batch.column(name))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, TypeError, ValueError) as exc:
            raise MmpError(
                f"{where}: column '{name}' cannot be read as {bins.kind}: {first_line(exc)}",
                "the data's types must match the model's contract",
            ) from None
    if PREDICTION in p.prediction:
        state.prediction[PREDICTION] = count(p.prediction[PREDICTION], batch.column(PREDICTION))
    if p.probability_columns:
        # the predicted class's probability: the row's largest (fmax skips NaN, as nanmax does)
        confidence = functools.reduce(np.fmax, (as_float(batch.column(c)) for c in p.probability_columns))
        total = float(confidence.sum())
        if math.isfinite(total):
            state.confidence_sum, state.confidence_rows = total, len(confidence)
        else:
            valid = ~np.isnan(confidence)
            state.confidence_sum = float(confidence[valid].sum())
            state.confidence_rows = int(valid.sum())
        if CONFIDENCE in p.prediction:
            state.prediction[CONFIDENCE] = count(p.prediction[CONFIDENCE], confidence)
    return state


# ---------------------------------------------------------------------------------------- scoring


def evaluate(
    profile: ReferenceProfile,
    states: dict[int | None, WindowState],
    p: Plan,
    source: str,
    realized: dict[int | None, dict[str, Any]] | None = None,
    label_rows: int | None = None,
) -> dict[str, Any]:
    """The report document: one entry per window, with scores, rates, metrics and alerts.

    `realized` holds each labelled window's metrics (`LabelJoin.finish`), `label_rows` how many
    labels were read."""
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
        windows.append(_window(profile, states[start], p, calibrated, (realized or {}).get(start)))
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
        "labels": {"rows": label_rows or 0, "joined_by": p.labels.by} if p.labels else None,
        "realized_metrics": realized_metric_names(profile.contract),
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


def _window(
    profile: ReferenceProfile,
    state: WindowState,
    p: Plan,
    calibrated: bool,
    realized: dict[str, Any] | None,
) -> dict[str, Any]:
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
    realized, estimated = _metrics(profile, state, p, calibrated, reasons, realized)
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
    profile: ReferenceProfile,
    state: WindowState,
    p: Plan,
    calibrated: bool,
    reasons: list[str],
    realized: dict[str, Any] | None,
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    perf, drop = profile.performance, profile.settings.performance_drop
    primary = realized_metric_names(profile.contract)[:1]
    if realized is not None and primary and primary[0] in realized:
        # the task's primary metric (the registry's first default, what tuning optimises) alerts;
        # the others are reported: on a window's few labels they are too noisy to page anyone
        name, value = primary[0], realized[primary[0]]
        baseline = perf.baseline(name)
        metric = get_metric(name)
        if baseline is not None and metric.greater_is_better and value < baseline - drop:
            reasons.append(f"realized {name} {value:.3f} is below validation {baseline:.3f} - {drop:g}")
        elif baseline is not None and not metric.greater_is_better and value > baseline * (1 + drop):
            reasons.append(f"realized {name} {value:.4g} is above validation {baseline:.4g} × {1 + drop:g}")
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
