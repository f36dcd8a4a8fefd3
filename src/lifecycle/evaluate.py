"""`mmp evaluate` as a function: score one or more models on the same labelled rows, in one pass.

Input is read exactly as batch-inference reads it (`mmp.pipelines.batch`: files, folders, globs,
SQL; values checked and cast against the feature contract by the same code), chunk by chunk, so
memory stays flat however many rows there are. Rows any model cannot score, and rows without a
usable label, are counted as rejects and left out for *every* model: the models are always
compared on identical rows, with identical bootstrap weights (a paired comparison).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from mmp.core.errors import MmpError
from mmp.core.progress import NullProgress, Progress
from mmp.core.yamlio import redact_url
from mmp.lifecycle.streaming import (
    BLOCK_ROWS,
    PROBABILITY_METRICS,
    Layout,
    Totals,
    bootstrap_weights,
    features,
    supported,
)

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from mmp.core.model_store import LoadedModel
    from mmp.recipe.config import Config

OTHER = "other"
MISSING = "(missing)"
MAX_SEGMENTS = 5000
REJECT_EXAMPLES = 5


@dataclass(frozen=True)
class EvaluationJob:
    """What to evaluate, on what; `None` means a default (the task's metrics, the config's chunk size)."""

    model_uris: list[str]
    data_path: str
    metrics: list[str] | None = None
    segment_by: str | None = None
    min_segment_rows: int = 200
    bootstrap_samples: int = 200
    confidence: float = 0.95
    seed: int = 0
    chunk_rows: int | None = None


@dataclass
class MetricValue:
    """A metric on the evaluation rows, and its bootstrap interval at the job's confidence."""

    value: float
    low: float
    high: float


@dataclass
class Segment:
    value: str
    rows: int
    metrics: dict[str, float]


@dataclass
class Evaluation:
    """One model on the evaluation rows. `replicates` (not printed) pair it with its siblings."""

    model: dict[str, Any]
    task: str
    metrics: dict[str, MetricValue]
    segments: list[Segment]
    segment_by: str | None
    confidence: float
    bootstrap_samples: int
    pairing: str
    replicates: dict[str, list[float]] = field(repr=False, default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        del out["replicates"]
        return out


@dataclass
class EvaluationRun:
    """What one pass produced: an evaluation per model, and the data they were judged on."""

    evaluations: list[Evaluation]
    data: dict[str, Any]
    rows_read: int
    rows_scored: int
    rows_rejected: int
    reject_examples: list[dict[str, Any]]
    duration_s: float
    scoring_s: float
    log_run_ids: list[str] = field(default_factory=list)

    @property
    def rows_per_s(self) -> float:
        return round(self.rows_read / self.scoring_s, 1) if self.scoring_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "data": self.data,
            "rows_read": self.rows_read,
            "rows_scored": self.rows_scored,
            "rows_rejected": self.rows_rejected,
            "reject_examples": self.reject_examples,
            "duration_s": self.duration_s,
            "rows_per_s": self.rows_per_s,
            "evaluations": [e.to_dict() for e in self.evaluations],
            "log_run_ids": self.log_run_ids,
        }


def contract_difference(a: LoadedModel, b: LoadedModel) -> list[str]:
    """Columns whose role or type differ between two models' contracts (empty: comparable)."""
    left = {c.name: (c.role, c.dtype) for c in a.contract.columns}
    right = {c.name: (c.role, c.dtype) for c in b.contract.columns}
    names = sorted(set(left) | set(right))
    out = []
    for name in names:
        if left.get(name) != right.get(name):
            out.append(f"{name} ({_describe(left.get(name))} vs {_describe(right.get(name))})")
    if a.contract.task != b.contract.task:
        out.insert(0, f"task ({a.contract.task} vs {b.contract.task})")
    return out


def _describe(spec: tuple[str, str] | None) -> str:
    return "absent" if spec is None else f"{spec[0]} {spec[1]}"


def evaluate(
    job: EvaluationJob,
    config: Config,
    progress: Progress | None = None,
    loaded: list[LoadedModel] | None = None,
) -> EvaluationRun:
    """Score every model of `job` on the same rows and compute each metric with its interval."""
    from mmp.core.model_store import load_model
    from mmp.pipelines.batch.checks import MissingColumnsError

    progress = progress or NullProgress()
    started = time.perf_counter()
    if not job.model_uris and not loaded:
        raise MmpError("no model to evaluate", "pass --model-uri")
    if loaded is None:
        with progress.step("Loading model" + ("s" if len(job.model_uris) > 1 else "")):
            store = config.mlflow.store()
            loaded = [load_model(uri, store) for uri in job.model_uris]
    for other in loaded[1:]:
        differing = contract_difference(loaded[0], other)
        if differing:
            raise MmpError(
                f"{other.identity.model_uri} and {loaded[0].identity.model_uri} have different feature "
                f"contracts: {', '.join(differing)}",
                "compare versions trained from the same recipe (the same columns and types)",
            )
    contract = loaded[0].contract
    task = "regression" if contract.task == "timeseries" else contract.task
    metrics = supported(contract.task, _metric_names(job.metrics, contract.task))
    needs_proba = any(m in PROBABILITY_METRICS for m in metrics)
    for model in loaded:
        if needs_proba and not hasattr(model.pipeline, "predict_proba"):
            raise MmpError(
                f"{', '.join(m for m in metrics if m in PROBABILITY_METRICS)} need class probabilities, "
                f"and {model.identity.model_uri} has no predict_proba",
                "choose other --metric values",
            )
    pass_ = _Pass(job, config, loaded, task, metrics, needs_proba)
    try:
        pass_.run(progress)
    except MissingColumnsError as exc:  # the label is not a model input: say so, not "a feature"
        if pass_.target not in exc.missing:
            raise
        hint = f"evaluation needs labelled rows: the model's target column '{pass_.target}' too"
        raise MmpError(exc.message, hint) from None
    return pass_.result(time.perf_counter() - started)


def _metric_names(given: list[str] | None, task: str) -> list[str]:
    from mmp.core.metrics import canonical_metric, default_metrics
    from mmp.recipe.promotion import STREAMING_METRICS

    if given:
        return list(dict.fromkeys(canonical_metric(m) for m in given))
    return [m for m in default_metrics(task) if m in STREAMING_METRICS]


class _Pass:
    """The state of one streaming pass over the evaluation data."""

    def __init__(
        self,
        job: EvaluationJob,
        config: Config,
        loaded: list[LoadedModel],
        task: str,
        metrics: list[str],
        needs_proba: bool,
    ) -> None:
        from datetime import UTC, datetime

        from mmp.pipelines.batch.locations import parse_input
        from mmp.pipelines.batch.scorer import ChunkScorer

        self.job, self.config, self.loaded, self.task, self.metrics = job, config, loaded, task, metrics
        contract = loaded[0].contract
        if contract.target_column is None:
            raise MmpError("mmp evaluate needs a model with a target column")
        self.target = contract.target_column
        # Nulls are checked below as "missing label", whatever training saw.
        self.target_spec = contract.column(self.target).model_copy(update={"nullable": True})
        self.scorers = [
            ChunkScorer(
                pipeline=m.pipeline,
                contract=m.contract,
                identity=m.identity,
                scored_at=datetime.now(UTC),
                probabilities=needs_proba and task == "classification",
                on_error="skip",
            )
            for m in loaded
        ]
        # Models with the same input columns and contract accept and convert a chunk alike: it is
        # converted once and every scorer starts from that (each then adds its own refusals).
        first = self.scorers[0]
        self.shared_input = all(
            s.input_columns == first.input_columns and s.specs == first.specs for s in self.scorers[1:]
        )
        self.classes = self.scorers[0].classes if task == "classification" else None
        for scorer in self.scorers[1:]:
            if task == "classification" and scorer.classes != self.classes:
                raise MmpError(
                    f"{scorer.identity.model_uri} predicts the classes {scorer.classes}, "
                    f"{self.scorers[0].identity.model_uri} predicts {self.classes}",
                    "compare models trained on the same labels",
                )
        self.layout = Layout(
            task,
            len(self.classes) if self.classes else 0,
            needs_proba,
            "roc_auc" in metrics,
        )
        self.replicates = job.bootstrap_samples
        self.totals = [Totals(self.layout, self.replicates) for _ in loaded]
        self.segment_totals = [Totals(self.layout, 0, 0) for _ in loaded] if job.segment_by else []
        self.segment_codes: dict[str, int] = {}
        self.source = parse_input(job.data_path, config)
        self.counts = {"read": 0, "scored": 0, "rejected": 0}
        self.examples: list[dict[str, Any]] = []
        self.time_range: list[Any] = [None, None]
        self.scoring_s = 0.0

    # --- the pass ------------------------------------------------------------------------------

    def run(self, progress: Progress) -> None:
        from mmp.pipelines.batch.readers import open_stream
        from mmp.pipelines.batch.threads import prefetch

        scorer = self.scorers[0]
        wanted = [*scorer.input_columns]
        for extra in (self.target, self.job.segment_by):
            if extra and extra not in wanted:
                wanted.append(extra)
        malformed: list[str] = []

        def on_malformed(reason: str) -> bool:
            malformed.append(reason)
            return True

        text_columns = [s.name for s in scorer.specs if s.dtype == "string"]
        chunk_rows = self.job.chunk_rows or self.config.batch.chunk_rows
        stream = open_stream(self.source, wanted, chunk_rows, on_malformed, text_columns)
        started = time.perf_counter()
        try:
            description = redact_url(self.source.description)
            with progress.step(f"Evaluating on {description}", total=stream.total_rows) as advance:
                reading = prefetch(stream.chunks)
                first = 1
                try:
                    for chunk in reading:
                        self._chunk(chunk, first)
                        first += chunk.num_rows
                        advance(chunk.num_rows)
                finally:
                    reading.close()  # type: ignore[attr-defined]
        finally:
            stream.close()
        self.scoring_s = time.perf_counter() - started
        for reason in malformed:
            self._example(None, "(record)", reason)
        self.counts["rejected"] += len(malformed)
        if self.counts["scored"] == 0:
            raise MmpError(
                f"no row of {redact_url(self.source.description)} could be evaluated "
                f"({self.counts['read']} read, {self.counts['rejected']} rejected)",
                "check the data: evaluation needs rows with every feature and a label",
            )

    def _chunk(self, chunk: pa.Table, first_row: int) -> None:
        import numpy as np

        from mmp.pipelines.batch.checks import coerce

        n = chunk.num_rows
        self.counts["read"] += n
        rejected = np.zeros(n, dtype=bool)
        labels_typed, problems = coerce(chunk.select([self.target]), [self.target_spec])
        label_column = labels_typed[self.target]
        labels = label_column.to_numpy()
        for row in problems.rows():
            rejected[row] = True
            self._example(first_row + row, self.target, problems.reasons[row][0].split(": ", 1)[-1])
        missing = label_column.isna().to_numpy()
        for at in np.flatnonzero(missing & ~rejected):
            rejected[at] = True
            self._example(first_row + int(at), self.target, "missing label")
        label_codes = None
        if self.classes is not None:
            label_codes = _codes(labels, self.classes)
            for at in np.flatnonzero((label_codes < 0) & ~rejected):
                rejected[at] = True
                self._example(
                    first_row + int(at), self.target, f"label {labels[at]!r} is not a class the model knows"
                )
        outputs = []
        shared = coerce(chunk, self.scorers[0].specs) if self.shared_input else None
        for scorer in self.scorers:
            scored = scorer(chunk, first_row, shared)
            if scored.fatal:
                raise MmpError(
                    f"{scorer.identity.model_uri}: rows {first_row}-{first_row + n - 1}: {scored.fatal}",
                    "the model fails on many rows: check that it scores its input example",
                )
            mine = np.zeros(n, dtype=bool)
            if scored.rejects.num_rows:
                local = np.asarray(scored.rejects["row"].to_numpy()) - first_row
                mine[local] = True
                for record in scored.rejects.slice(0, REJECT_EXAMPLES).to_pylist():
                    if not rejected[record["row"] - first_row]:
                        self._example(record["row"], record["column"], record["reason"])
            outputs.append((scored.output, mine))
            rejected |= mine
        keep = ~rejected
        kept = int(keep.sum())
        self.counts["rejected"] += n - kept
        self.counts["scored"] += kept
        if kept == 0:
            return
        y = label_codes[keep] if label_codes is not None else labels[keep].astype(np.float64)
        segments = self._segment_codes(chunk, keep) if self.job.segment_by else None
        self._time_range(chunk, keep)
        answers = []
        for output, mine in outputs:
            assert output is not None
            # The model's output holds its own accepted rows; pick those every model accepted.
            position = np.cumsum(~mine) - 1
            answers.append(self._predictions(output, position[keep]))
        self._accumulate(y, answers, segments, first_row)

    def _predictions(self, output: pa.Table, pick: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        import numpy as np

        from mmp.pipelines.batch.scorer import PREDICTION

        values = output[PREDICTION].to_numpy(zero_copy_only=False)[pick]
        if self.classes is None:
            return values.astype(np.float64), None
        pred = _codes(values, self.classes)
        proba = None
        names = self.scorers[0].probability_columns
        if names:
            proba = np.column_stack([output[c].to_numpy(zero_copy_only=False)[pick] for c in names])
        return pred, proba

    def _accumulate(
        self,
        y: np.ndarray,
        answers: list[tuple[np.ndarray, np.ndarray | None]],
        segments: np.ndarray | None,
        first_row: int,
    ) -> None:
        """Add the kept rows of a chunk to every model's totals, block by block. A block's bootstrap
        weights are drawn once and shared by all models: the same rows, the same replicates."""
        for start in range(0, len(y), BLOCK_ROWS):
            stop = min(start + BLOCK_ROWS, len(y))
            weights = bootstrap_weights(self.job.seed, first_row + start, stop - start, self.replicates)
            for index, (pred, proba) in enumerate(answers):
                block_proba = proba[start:stop] if proba is not None else None
                dense, cells = features(self.layout, y[start:stop], pred[start:stop], block_proba)
                self.totals[index].add(dense, cells, weights)
                if segments is not None:
                    totals = self.segment_totals[index]
                    totals.grow(len(self.segment_codes))
                    totals.add_grouped(dense, cells, segments[start:stop])

    def _segment_codes(self, chunk: pa.Table, keep: np.ndarray) -> np.ndarray:
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        assert self.job.segment_by is not None
        column = chunk[self.job.segment_by]
        try:
            text = pc.cast(column, pa.string())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            text = pa.chunked_array([pa.array([None if v is None else str(v) for v in column.to_pylist()])])
        values = pc.fill_null(text, MISSING).to_numpy(zero_copy_only=False)[keep]
        uniques, inverse = np.unique(values.astype(str), return_inverse=True)
        mapping = np.empty(len(uniques), dtype=np.int64)
        for i, value in enumerate(uniques):
            value = str(value)
            code = self.segment_codes.get(value)
            if code is None:
                if len(self.segment_codes) >= MAX_SEGMENTS:
                    raise MmpError(
                        f"--segment-by {self.job.segment_by} has more than {MAX_SEGMENTS} distinct values",
                        "segment by a coarser column (region rather than customer id)",
                    )
                code = self.segment_codes[value] = len(self.segment_codes)
            mapping[i] = code
        return mapping[inverse]

    def _time_range(self, chunk: pa.Table, keep: np.ndarray) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        stamps = [
            c.name for c in self.loaded[0].contract.by_role("timestamp") if c.name in chunk.column_names
        ]
        if not stamps:
            return
        column = chunk[stamps[0]].filter(pa.array(keep))
        try:
            bounds = pc.min_max(column).as_py()
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return
        low, high = bounds["min"], bounds["max"]
        if low is not None and (self.time_range[0] is None or str(low) < str(self.time_range[0])):
            self.time_range[0] = low
        if high is not None and (self.time_range[1] is None or str(high) > str(self.time_range[1])):
            self.time_range[1] = high

    def _example(self, row: int | None, column: str, reason: str) -> None:
        if len(self.examples) < REJECT_EXAMPLES:
            self.examples.append({"row": row, "column": column, "reason": reason})

    # --- results -------------------------------------------------------------------------------

    def result(self, duration_s: float) -> EvaluationRun:
        from mmp.pipelines.batch.lineage import input_fingerprint

        fingerprint = input_fingerprint(self.source)
        data = {
            "input": redact_url(self.source.description),
            "fingerprint": fingerprint,
            "rows": self.counts["scored"],
            "time_range": [None if t is None else str(t) for t in self.time_range],
        }
        chunk_rows = self.job.chunk_rows or self.config.batch.chunk_rows
        pairing = (
            f"{fingerprint['sha256'][:16]}:{self.counts['scored']}:{chunk_rows}:"
            f"{self.job.seed}:{self.replicates}"
        )
        evaluations = [self._evaluation(i, pairing) for i in range(len(self.loaded))]
        return EvaluationRun(
            evaluations=evaluations,
            data=data,
            rows_read=self.counts["read"],
            rows_scored=self.counts["scored"],
            rows_rejected=self.counts["rejected"],
            reject_examples=self.examples,
            duration_s=round(duration_s, 3),
            scoring_s=round(self.scoring_s, 3),
        )

    def _evaluation(self, index: int, pairing: str) -> Evaluation:
        import numpy as np

        totals = self.totals[index]
        alpha = (1 - self.job.confidence) / 2
        values: dict[str, MetricValue] = {}
        replicates: dict[str, list[float]] = {}
        for metric in self.metrics:
            series = totals.values(metric)
            boot = series[1:]
            finite = boot[np.isfinite(boot)]
            low, high = (
                (float(np.quantile(finite, alpha)), float(np.quantile(finite, 1 - alpha)))
                if len(finite)
                else (float("nan"), float("nan"))
            )
            values[metric] = MetricValue(float(series[0]), low, high)
            replicates[metric] = [float(v) for v in boot]
        segments = self._segments(index)
        return Evaluation(
            model=self.loaded[index].identity.to_dict(),
            task=self.loaded[index].contract.task,
            metrics=values,
            segments=segments,
            segment_by=self.job.segment_by,
            confidence=self.job.confidence,
            bootstrap_samples=self.replicates,
            pairing=pairing,
            replicates=replicates,
        )

    def _segments(self, index: int) -> list[Segment]:
        if not self.segment_totals:
            return []
        totals = self.segment_totals[index]
        totals.grow(len(self.segment_codes))
        rows = totals.rows()
        big = [(v, c) for v, c in self.segment_codes.items() if rows[c] >= self.job.min_segment_rows]
        small = [c for v, c in self.segment_codes.items() if rows[c] < self.job.min_segment_rows]
        out: list[Segment] = []
        for value, code in sorted(big, key=lambda vc: (-rows[vc[1]], vc[0])):
            group = totals.group(code)
            out.append(Segment(value, int(rows[code]), {m: float(group.values(m)[0]) for m in self.metrics}))
        if small:
            group = totals.merged(small)
            out.append(
                Segment(OTHER, int(group.rows()[0]), {m: float(group.values(m)[0]) for m in self.metrics})
            )
        return out


def _codes(values: np.ndarray, classes: list[Any]) -> np.ndarray:
    """Index of each value in `classes`, -1 for values that are not a class."""
    import numpy as np
    import pandas as pd

    plain = [c.item() if hasattr(c, "item") else c for c in classes]
    return np.asarray(pd.Index(plain).get_indexer(values), dtype=np.int64)
