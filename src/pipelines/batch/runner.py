"""`mmp batch-inference` as a function: plan the job, run it on the chosen engine, record it.

Engines are siblings behind one signature (`mmp.pipelines.batch.job.Engine`): `local` streams
chunks on this machine, `spark` hands the job to Spark. Both are imported only when chosen, so
`--engine local` never imports pyspark.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from mmp.core.progress import NullProgress, Progress
from mmp.pipelines.batch.job import BatchJob, BatchResult, Engine, EngineName, plan

if TYPE_CHECKING:
    from mmp.recipe.config import Config

__all__ = ["BatchJob", "BatchResult", "engine_for", "run_batch", "terminate_as_interrupt"]


def engine_for(name: EngineName) -> Engine:
    """The engine function for `--engine NAME`."""
    if name == "spark":
        from mmp.pipelines.batch.spark import run_spark

        return run_spark
    from mmp.pipelines.batch.local import run_local

    return run_local


def run_batch(job: BatchJob, config: Config, progress: Progress | None = None) -> BatchResult:
    """Score `job.data_path` with the model and write the output atomically."""
    progress = progress or NullProgress()
    the_plan = plan(job, config)
    fingerprint = None
    if job.log_run:
        from mmp.pipelines.batch.lineage import input_fingerprint

        fingerprint = input_fingerprint(the_plan.source)
    with terminate_as_interrupt():
        result = engine_for(job.engine)(the_plan, config, progress)
    if fingerprint is not None:
        from mmp.pipelines.batch.lineage import log_batch_run

        result.lineage_run_id = log_batch_run(config, result, fingerprint)
    return result


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
