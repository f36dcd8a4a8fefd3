"""Score chunks in worker processes while keeping input order and bounded memory.

The main process reads and writes; N spawned workers each hold one copy of the scorer and score
whole chunks. Results are taken in submission order, and at most two chunks per worker are in
flight, so memory stays at a few chunks whatever the input size.

The pool is loky's `ProcessPoolExecutor` (vendored in joblib, a scikit-learn dependency): fresh
interpreters like multiprocessing's "spawn", and a public way to kill the workers on an error or an
interrupt. Workers start *before* the model is loaded (`WorkerPool.start`), importing pandas, pyarrow and
scikit-learn while the main process downloads the model; the pickled scorer then reaches them
through an anonymous memory file (Linux memfd, read via /proc/PID/fd), which vanishes with the
job even on `kill -9`. Where there is no memfd, workers start after the model loads and receive
it as an initializer argument. Workers ignore Ctrl-C (the main process decides and stops them)
and exit by themselves if the main process dies, so no orphan outlives a killed job.
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

from mmp.core.heap import freeze_long_lived

if TYPE_CHECKING:
    import pyarrow as pa

    from mmp.pipelines.batch.scorer import ChunkScorer, ScoredChunk

IN_FLIGHT_PER_WORKER = 2
WARM_IMPORTS = (
    "numpy",
    "pandas",
    "pyarrow",
    "sklearn.pipeline",
    "sklearn.compose",
    "mmp.pipelines.batch.scorer",
)
_scorer: Any = None


class WorkerPool:
    """N scoring processes; `start` them early, `load` the scorer once, then `score` chunks."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: Any = None
        self._memfd: int | None = None
        self._source: str | None = None
        self._pending: deque[Any] = deque()

    @classmethod
    def start(cls, workers: int) -> WorkerPool:
        """Spawn the workers now if the scorer can be handed over later (memfd), else at `load`."""
        pool = cls(workers)
        if hasattr(os, "memfd_create") and os.path.isdir(f"/proc/{os.getpid()}/fd"):
            pool._memfd = os.memfd_create("mmp-batch-scorer", os.MFD_CLOEXEC)
            pool._source = f"/proc/{os.getpid()}/fd/{pool._memfd}"
            pool._spawn(payload=None)
            for _ in range(workers):  # the executor spawns lazily: ask for every worker now
                pool._pool.submit(_warm)
        return pool

    def _spawn(self, payload: bytes | None) -> None:
        # loky (shipped with scikit-learn's joblib) starts fresh interpreters like "spawn" and, unlike
        # concurrent.futures, can kill its workers through its public API (`kill_workers=True`).
        from joblib.externals.loky import ProcessPoolExecutor

        threads = max(1, (os.cpu_count() or 1) // self.workers)
        self._pool = ProcessPoolExecutor(
            max_workers=self.workers,
            initializer=_start_worker,
            initargs=(payload, os.getpid(), threads),
        )

    def load(self, scorer: ChunkScorer) -> None:
        import cloudpickle

        payload = cloudpickle.dumps(scorer)
        if self._memfd is None:
            self._spawn(payload)
            return
        offset = 0
        while offset < len(payload):
            offset += os.write(self._memfd, payload[offset:])

    def score(self, chunks: Iterable[tuple[pa.Table, int]]) -> Iterator[ScoredChunk]:
        """Scored chunks in input order.

        Work left pending by an error is not cancelled here: `close(wait=False)` fails it and kills
        the workers (see `_settle`).
        """
        for chunk, first_row in chunks:
            self._pending.append(self._pool.submit(_score, chunk, first_row, self._source))
            while len(self._pending) >= self.workers * IN_FLIGHT_PER_WORKER:
                yield self._pending.popleft().result()
        while self._pending:
            yield self._pending.popleft().result()

    def close(self, wait: bool = True) -> None:
        """Stop the workers: politely after success, at once after an error or an interrupt."""
        if self._pool is not None:
            if wait:
                self._pool.shutdown(wait=True)
            else:
                self._settle()
                self._pool.shutdown(wait=True, kill_workers=True)
            self._pool = None
        if self._memfd is not None:
            os.close(self._memfd)
            self._memfd = None

    def _settle(self, timeout_s: float = 5.0) -> None:
        """Wait (briefly) until loky has handed every pending task to the workers' queue.

        loky's `shutdown(kill_workers=True)` fails the pending futures but leaves their ids in its
        submission queue; if a task has not reached the workers' queue yet, its manager thread then
        dies with `KeyError` (or `InvalidStateError` on a cancelled future) and prints a traceback.
        At most `2 x workers` tasks are in flight and that queue holds `2 x workers + 1`, so every
        task reaches it within milliseconds; running tasks are not awaited.
        """
        deadline = time.monotonic() + timeout_s
        while any(not (f.running() or f.done()) for f in self._pending):
            if time.monotonic() > deadline:
                return
            time.sleep(0.001)
        self._pending.clear()


def score_chunks(
    scorer: ChunkScorer, chunks: Iterable[tuple[pa.Table, int]], pool: WorkerPool | None
) -> Iterator[ScoredChunk]:
    """Scored chunks in input order: in this process without a pool, else on the pool's workers."""
    if pool is None:
        for chunk, first_row in chunks:
            yield scorer(chunk, first_row)
        return
    yield from pool.score(chunks)


def _start_worker(payload: bytes | None, parent: int, threads: int) -> None:
    import importlib

    global _scorer
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    with contextlib.suppress(ImportError):
        from threadpoolctl import threadpool_limits

        # N workers x all-cores OpenMP/BLAS pools would oversubscribe the machine.
        threadpool_limits(limits=threads)
    for module in WARM_IMPORTS:
        importlib.import_module(module)
    if payload is not None:
        _scorer = _adopt(payload)


def _exit_with_parent(parent: int) -> None:
    while True:
        if os.getppid() != parent:
            os._exit(1)
        time.sleep(0.5)


def _warm() -> None:
    """A no-op task: submitting one per worker makes the executor spawn them all at once."""


def _score(chunk: pa.Table, first_row: int, source: str | None) -> ScoredChunk:
    global _scorer
    if _scorer is None:
        assert source is not None
        with open(source, "rb") as fh:
            _scorer = _adopt(fh.read())
    return _scorer(chunk, first_row)


def _adopt(payload: bytes) -> ChunkScorer:
    """The pickled scorer, which this worker then keeps for the whole job (so its heap is frozen)."""
    import cloudpickle

    scorer: ChunkScorer = cloudpickle.loads(payload)
    freeze_long_lived(collect=False)
    return scorer
