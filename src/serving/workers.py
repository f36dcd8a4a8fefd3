"""Readiness across the worker processes of one server (`mmp serve-api --workers N`).

Every worker loads the model itself, and the kernel hands each new connection to any of them
(`server.WorkerSocket`), so a `/ready` answered 200 by the first worker to load would send traffic
that the others still refuse with 503. Each worker therefore marks itself ready in the server's
state folder once its model is loaded and warmed, and `/ready` is 200 only when every worker has.
A marker of a worker that has died does not count (its process id is checked), so a replaced
worker is waited for too.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


class WorkerReadiness:
    """Ready markers (`<pid>` files) of the workers sharing `folder`."""

    def __init__(self, folder: Path, workers: int) -> None:
        self.folder = folder
        self.workers = workers
        self.folder.mkdir(parents=True, exist_ok=True)

    def mark_ready(self) -> None:
        (self.folder / str(os.getpid())).touch()

    def ready_workers(self) -> int:
        count = 0
        for marker in self.folder.iterdir():
            if marker.name.isdigit() and _alive(int(marker.name)):
                count += 1
            else:
                with contextlib.suppress(OSError):  # a dead worker's marker, or a stray file
                    marker.unlink()
        return count

    def all_ready(self) -> bool:
        return self.ready_workers() >= self.workers


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - another user's process: it exists
        return True
    return True
