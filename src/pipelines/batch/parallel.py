"""Score chunks in worker processes while keeping input order and bounded memory.

The main process reads and writes; N spawned workers each hold one copy of the scorer (the model is
sent once, at start) and score whole chunks. Results are taken in submission order, and at most
two chunks per worker are in flight, so memory stays at a few chunks whatever the input size.
Workers ignore Ctrl-C (the main process decides and stops them) and exit by themselves if the main
process dies, so a `kill -9` leaves no orphans.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

    from mmp.pipelines.batch.scorer import ChunkScorer, ScoredChunk

IN_FLIGHT_PER_WORKER = 2
_scorer: Any = None


def score_chunks(
    scorer: ChunkScorer, chunks: Iterable[tuple[pa.Table, int]], workers: int
) -> Iterator[ScoredChunk]:
    """Scored chunks in input order; `workers` <= 1 scores in this process."""
    if workers <= 1:
        for chunk, first_row in chunks:
            yield scorer(chunk, first_row)
        return
    yield from _score_in_pool(scorer, chunks, workers)


def _score_in_pool(
    scorer: ChunkScorer, chunks: Iterable[tuple[pa.Table, int]], workers: int
) -> Iterator[ScoredChunk]:
    import multiprocessing
    from concurrent.futures import Future, ProcessPoolExecutor

    import cloudpickle

    payload = cloudpickle.dumps(scorer)
    threads = max(1, (os.cpu_count() or 1) // workers)
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(payload, os.getpid(), threads),
    )
    pending: deque[Future[ScoredChunk]] = deque()
    finished = False
    try:
        for chunk, first_row in chunks:
            pending.append(pool.submit(_score, chunk, first_row))
            while len(pending) >= workers * IN_FLIGHT_PER_WORKER:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
        finished = True
    finally:
        if finished:
            pool.shutdown(wait=True)
        else:
            _stop(pool, pending)


def _stop(pool: Any, pending: deque[Any]) -> None:
    """Stop at once (error or interrupt): drop queued chunks and end the workers."""
    for future in pending:
        future.cancel()
    processes = list(getattr(pool, "_processes", {}).values())  # no public handle on the workers
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        with contextlib.suppress(Exception):
            process.terminate()
    for process in processes:
        with contextlib.suppress(Exception):
            process.join(timeout=5)


def _start_worker(payload: bytes, parent: int, threads: int) -> None:
    import cloudpickle

    global _scorer
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    with contextlib.suppress(ImportError):
        from threadpoolctl import threadpool_limits

        # N workers x all-cores OpenMP/BLAS pools would oversubscribe the machine.
        threadpool_limits(limits=threads)
    _scorer = cloudpickle.loads(payload)


def _exit_with_parent(parent: int) -> None:
    while True:
        if os.getppid() != parent:
            os._exit(1)
        time.sleep(0.5)


def _score(chunk: pa.Table, first_row: int) -> ScoredChunk:
    return _scorer(chunk, first_row)
