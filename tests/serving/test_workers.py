"""What the workers of one server share: the port (the parent holds it without listening, and every
worker that receives it opens its own SO_REUSEPORT listener, so the kernel spreads connections over
the workers), and readiness (ready only when every live worker has loaded the model)."""

from __future__ import annotations

import os
import pickle
import socket
import subprocess
import sys
from multiprocessing.reduction import ForkingPickler
from pathlib import Path

import pytest

from mmp.serving.server import listen, reserve_port


def _connects(port: int) -> bool:
    with socket.socket() as client:
        client.settimeout(2)
        try:
            client.connect(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_each_process_that_receives_the_port_listens_on_it_itself() -> None:
    parent = reserve_port("127.0.0.1", 0)
    port = parent.getsockname()[1]
    with parent:
        assert not _connects(port)  # bound, not listening: it is never handed a connection
        # uvicorn hands sockets to spawned workers through multiprocessing's pickler
        workers = [pickle.loads(ForkingPickler.dumps(parent)) for _ in range(2)]
        try:
            for worker in workers:
                assert worker.getsockname()[1] == port
                assert worker.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
            assert _connects(port)
            accepted = 0
            for worker in workers:  # the connection landed on exactly one worker's own queue
                worker.setblocking(False)
                try:
                    worker.accept()[0].close()
                    accepted += 1
                except BlockingIOError:
                    pass
            assert accepted == 1
        finally:
            for worker in workers:
                worker.close()


def test_a_port_in_use_is_refused_before_any_worker_starts() -> None:
    with listen("127.0.0.1", 0) as taken, pytest.raises(OSError):
        reserve_port("127.0.0.1", taken.getsockname()[1])


def test_ready_means_every_live_worker_is_ready(tmp_path: Path) -> None:
    from mmp.serving.workers import WorkerReadiness

    readiness = WorkerReadiness(tmp_path / "ready", workers=2)
    assert not readiness.all_ready()
    readiness.mark_ready()
    assert readiness.ready_workers() == 1 and not readiness.all_ready()
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    (tmp_path / "ready" / gone.stdout.strip()).touch()  # a worker that died after it was ready
    assert readiness.ready_workers() == 1 and not readiness.all_ready()
    (tmp_path / "ready" / str(os.getppid())).touch()  # a live process
    assert readiness.all_ready()
