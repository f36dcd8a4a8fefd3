"""The local engine: stream chunks from the input through the scorer (in this process or a worker
pool) into staged outputs, committed only when every chunk succeeded.

The order of work is chosen so mistakes surface early and cheaply: the plan has already parsed the
locations and refused to overwrite; here the model loads, the input's columns are checked, and only
then are chunks read, scored and written. Any failure or interrupt aborts the writers, so no
partial output is ever visible.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from mmp.core.errors import MmpError
from mmp.core.progress import Progress
from mmp.core.yamlio import redact_url
from mmp.pipelines.batch import sql_writer, writers
from mmp.pipelines.batch.job import SKIP_HINT, BatchResult, Plan, load_scorer
from mmp.pipelines.batch.locations import SqlOutput
from mmp.pipelines.batch.parallel import WorkerPool, score_chunks
from mmp.pipelines.batch.readers import open_stream
from mmp.pipelines.batch.scorer import REJECT_COLUMNS, ChunkScorer, OnError, ScoredChunk
from mmp.pipelines.batch.threads import BackgroundWriter, prefetch

if TYPE_CHECKING:
    import pyarrow as pa

    from mmp.recipe.config import Config


def run_local(the_plan: Plan, config: Config, progress: Progress) -> BatchResult:
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
