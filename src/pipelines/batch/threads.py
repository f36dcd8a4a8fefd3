"""Overlap reading and writing with scoring, one chunk ahead, on background threads.

Arrow's readers and writers and scikit-learn's tree predictors release the GIL, so reading chunk
n+1 and writing chunk n-1 while chunk n is scored uses a second core for I/O instead of leaving it
idle. Queues hold at most `depth` chunks, so memory stays bounded; an exception on a background
thread is re-raised on the main thread at the next call.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import pyarrow as pa

    from mmp.pipelines.batch.writers import Writer

T = TypeVar("T")
_DONE = object()
_POLL_S = 0.1


def prefetch(items: Iterator[T], depth: int = 1) -> Iterator[T]:
    """Yield `items` while a thread produces the next `depth` of them."""
    slots: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        slots.put((item, None), timeout=_POLL_S)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            slots.put((_DONE, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which re-raises it
            slots.put((_DONE, exc))

    thread = threading.Thread(target=produce, name="mmp-batch-reader", daemon=True)
    thread.start()
    try:
        while True:
            item, error = slots.get()
            if error is not None:
                raise error
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            with contextlib.suppress(queue.Empty):  # unblock a producer waiting on a full queue
                slots.get_nowait()
            thread.join(timeout=_POLL_S)


class BackgroundWriter:
    """A `Writer` whose `write` returns at once; the wrapped writer runs on its own thread.

    Only for file writers: a database connection must stay on the thread that opened it.
    """

    def __init__(self, inner: Writer, depth: int = 2) -> None:
        self.inner = inner
        self._slots: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="mmp-batch-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            table = self._slots.get()
            if table is _DONE:
                return
            if self._error is None:
                try:
                    self.inner.write(table)
                except BaseException as exc:  # noqa: BLE001 - re-raised on the main thread
                    self._error = exc

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def write(self, table: pa.Table) -> None:
        self._raise()
        self._slots.put(table)

    def _drain(self) -> None:
        self._slots.put(_DONE)
        self._thread.join()

    def commit(self) -> None:
        self._drain()
        self._raise()
        self.inner.commit()

    def abort(self) -> None:
        if self._thread.is_alive():
            while True:  # drop queued chunks so the thread sees the end marker at once
                try:
                    self._slots.get_nowait()
                except queue.Empty:
                    break
            self._drain()
        self.inner.abort()
