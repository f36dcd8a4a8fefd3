"""`mmp batch-inference` as a function: stream an input through a model into an atomic output.

The order of work is chosen so mistakes surface early and cheaply: parse the locations, refuse to
overwrite, load the model, check the input's columns, and only then read, score and write chunk
by chunk. Any failure or interrupt aborts the writers, so no partial output is ever visible.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mmp.core.errors import MmpError
from mmp.core.progress import NullProgress, Progress
from mmp.core.yamlio import redact_url
from mmp.pipelines.batch import sql_writer, writers
from mmp.pipelines.batch.locations import (
    FileOutput,
    InputSpec,
    OutputSpec,
    SqlOutput,
    parse_input,
    parse_output,
    rejects_output,
)
from mmp.pipelines.batch.parallel import WorkerPool, score_chunks
from mmp.pipelines.batch.readers import open_stream
from mmp.pipelines.batch.scorer import REJECT_COLUMNS, ChunkScorer, OnError, ScoredChunk
from mmp.pipelines.batch.threads import BackgroundWriter, prefetch

if TYPE_CHECKING:
    import pyarrow as pa

    from mmp.recipe.config import Config

Engine = Literal["local", "spark"]
SKIP_HINT = "fix the data, or pass --on-error skip to write such rows to a rejects file"


@dataclass(frozen=True)
class BatchJob:
    """What to score, with what, and where to; `None` means the config's default."""

    model_uri: str
    data_path: str
    output_path: str | None = None
    chunk_rows: int | None = None
    workers: int | None = None
    probabilities: bool = False
    on_error: OnError = "fail"
    rejects_path: str | None = None
    log_run: bool = False
    engine: Engine = "local"
    spark_master: str = "local[*]"
    force: bool = False


@dataclass
class BatchResult:
    """What a job did; `--json` prints exactly this."""

    model: dict[str, Any]
    input: str
    output: str
    rejects: str | None
    rows_read: int
    rows_scored: int
    rows_rejected: int
    duration_s: float
    scoring_s: float
    engine: str
    workers: int
    chunk_rows: int
    on_error: str
    probabilities: bool
    lineage_run_id: str | None = None
    columns: list[str] = field(default_factory=list)

    @property
    def rows_per_s(self) -> float:
        """Throughput of the scoring itself (reading, checking, predicting, writing), not model loading."""
        return round(self.rows_read / self.scoring_s, 1) if self.scoring_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rows_per_s": self.rows_per_s}


@dataclass(frozen=True)
class Plan:
    """The job with every default resolved and every location parsed."""

    job: BatchJob
    source: InputSpec
    output: OutputSpec
    rejects: FileOutput | None
    chunk_rows: int
    workers: int


def plan(job: BatchJob, config: Config) -> Plan:
    """Parse and check locations and options before anything expensive happens."""
    chunk_rows = job.chunk_rows or config.batch.chunk_rows
    workers = job.workers or config.batch.workers
    if chunk_rows < 1 or workers < 1:
        raise MmpError("--chunk-rows and --workers must be at least 1")
    source = parse_input(job.data_path, config)
    output = parse_output(job.output_path, config)
    rejects = rejects_output(job.rejects_path, output) if job.on_error == "skip" else None
    if isinstance(output, FileOutput):
        writers.refuse_to_overwrite(output, job.force)
    else:
        sql_writer.refuse_to_overwrite(output, job.force)
    if rejects is not None:
        if isinstance(output, FileOutput) and rejects.path.resolve() == output.path.resolve():
            raise MmpError("--rejects-path is the output file", "write rejects to another file")
        writers.refuse_to_overwrite(rejects, job.force, what="rejects file")
    return Plan(job, source, output, rejects, chunk_rows, workers)


def run_batch(job: BatchJob, config: Config, progress: Progress | None = None) -> BatchResult:
    """Score `job.data_path` with the model and write the output atomically."""
    progress = progress or NullProgress()
    the_plan = plan(job, config)
    fingerprint = None
    if job.log_run:
        from mmp.pipelines.batch.lineage import input_fingerprint

        fingerprint = input_fingerprint(the_plan.source)
    with terminate_as_interrupt():
        if job.engine == "spark":
            from mmp.pipelines.batch.spark import run_spark

            result = run_spark(the_plan, config, progress)
        else:
            result = _run_local(the_plan, config, progress)
    if fingerprint is not None:
        from mmp.pipelines.batch.lineage import log_batch_run

        result.lineage_run_id = log_batch_run(config, result, fingerprint)
    return result


def load_scorer(the_plan: Plan, config: Config, progress: Progress) -> tuple[ChunkScorer, Path]:
    """The scorer for the job's model, and the local folder the model was loaded from."""
    from mmp.core.model_store import load_model

    job = the_plan.job
    with progress.step("Loading model"):
        loaded = load_model(job.model_uri, config.mlflow.store())
    scorer = ChunkScorer(
        pipeline=loaded.pipeline,
        contract=loaded.contract,
        identity=loaded.identity,
        scored_at=datetime.now(UTC),
        probabilities=job.probabilities,
        on_error=job.on_error,
    )
    return scorer, loaded.path


def _run_local(the_plan: Plan, config: Config, progress: Progress) -> BatchResult:
    started = time.perf_counter()
    # Workers start first: their imports overlap the model download in this process.
    pool = WorkerPool.start(the_plan.workers) if the_plan.workers > 1 else None
    finished = False
    try:
        scorer, _ = load_scorer(the_plan, config, progress)
        if pool is not None:
            pool.load(scorer)
        counts, scoring_s = _stream(the_plan, scorer, pool, progress)
        finished = True
    finally:
        if pool is not None:
            pool.close(wait=finished)
    job = the_plan.job
    return BatchResult(
        model=scorer.identity.to_dict(),
        input=redact_url(the_plan.source.description),
        output=the_plan.output.description,
        rejects=str(the_plan.rejects.path) if the_plan.rejects else None,
        rows_read=counts["read"],
        rows_scored=counts["scored"],
        rows_rejected=counts["rejected"],
        duration_s=round(time.perf_counter() - started, 3),
        scoring_s=round(scoring_s, 3),
        engine="local",
        workers=the_plan.workers,
        chunk_rows=the_plan.chunk_rows,
        on_error=job.on_error,
        probabilities=job.probabilities,
        columns=scorer.output_schema().names,
    )


def _stream(
    the_plan: Plan, scorer: ChunkScorer, pool: WorkerPool | None, progress: Progress
) -> tuple[dict[str, int], float]:
    """Read, score and write every chunk; commit the outputs only if all of it succeeded."""
    job = the_plan.job
    malformed: list[str] = []

    def on_malformed(reason: str) -> bool:
        malformed.append(reason)
        return job.on_error == "skip"

    text_columns = [s.name for s in scorer.specs if s.dtype == "string"]
    stream = open_stream(
        the_plan.source, scorer.input_columns, the_plan.chunk_rows, on_malformed, text_columns
    )
    counts = {"read": 0, "scored": 0, "rejected": 0}
    output: writers.Writer | None = None
    rejects: writers.Writer | None = None
    try:
        output = _open_output(the_plan, scorer.output_schema())
        if the_plan.rejects is not None:
            rejects = writers.open_file_writer(the_plan.rejects, scorer.reject_schema())
        started = time.perf_counter()
        with progress.step(f"Scoring {the_plan.source.description}", total=stream.total_rows) as advance:
            reading = prefetch(stream.chunks)
            chunks = score_chunks(scorer, _numbered(reading), pool)
            try:
                for scored in chunks:
                    _check(scored, job.on_error)
                    if scored.output is not None:
                        output.write(scored.output)
                    counts["rejected"] += _write_rejects(rejects, malformed, scored.rejects)
                    counts["read"] += scored.rows_in
                    counts["scored"] += scored.rows_out
                    advance(scored.rows_in)
            finally:
                chunks.close()  # type: ignore[attr-defined]
                reading.close()  # type: ignore[attr-defined]
            counts["rejected"] += _write_rejects(rejects, malformed, scorer.reject_schema().empty_table())
        # Release the input first: a query that read the target table still holds a lock on it.
        stream.close()
        if rejects is not None:
            rejects.commit()
        output.commit()
        return counts, time.perf_counter() - started
    except BaseException:
        for writer in (output, rejects):
            if writer is not None:
                writer.abort()
        raise
    finally:
        stream.close()


def _open_output(the_plan: Plan, schema: pa.Schema) -> writers.Writer:
    if isinstance(the_plan.output, SqlOutput):
        return sql_writer.SqlWriter(the_plan.output, schema, force=the_plan.job.force)
    return BackgroundWriter(writers.open_file_writer(the_plan.output, schema))


def _numbered(chunks: Iterator[pa.Table]) -> Iterator[tuple[pa.Table, int]]:
    """Each chunk with the 1-based number of its first row in the whole input."""
    first = 1
    for chunk in chunks:
        yield chunk, first
        first += chunk.num_rows


def _check(scored: ScoredChunk, on_error: OnError) -> None:
    if scored.fatal:
        raise MmpError(
            f"rows {scored.first_row}-{scored.first_row + scored.rows_in - 1}: {scored.fatal}",
            "the model fails on many rows: check that it loads and scores its input example",
        )
    if on_error == "fail" and scored.rejects.num_rows:
        first = scored.rejects.slice(0, 1).to_pylist()[0]
        raise MmpError(f"cannot score row {first['row']}: {first['reason']}", SKIP_HINT)


def _write_rejects(rejects: writers.Writer | None, malformed: list[str], scored: pa.Table) -> int:
    """Write records the reader dropped, then the chunk's rejected rows; return how many."""
    reasons = malformed[: len(malformed)]  # the reader thread may append meanwhile: take a snapshot
    del malformed[: len(reasons)]
    if rejects is not None:
        rejects.write(_malformed_rows(reasons, scored.schema))
        rejects.write(scored)
    return len(reasons) + scored.num_rows


def _malformed_rows(reasons: list[str], schema: pa.Schema) -> pa.Table:
    """Records the reader could not parse, for the rejects file (no row number: never parsed)."""
    import pyarrow as pa

    if not reasons:
        return schema.empty_table()
    n = len(reasons)
    data: dict[str, Any] = {name: pa.nulls(n, schema.field(name).type) for name in schema.names}
    data[REJECT_COLUMNS[1]] = pa.array(["(record)"] * n, pa.string())
    data[REJECT_COLUMNS[2]] = pa.array(reasons, pa.string())
    return pa.table(data, schema=schema)


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C while a job runs, so `kill` cleans up exactly as Ctrl-C does."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
