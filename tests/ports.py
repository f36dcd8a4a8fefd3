"""One way for tests to pick the TCP port of a process they start (a server, PostgreSQL, a container).

Why not "bind port 0, read the number, close": the kernel hands the same ephemeral range to every
outgoing connection and to the other xdist worker doing the same, so the port can be taken before
the server binds it (seen once under load). Here each xdist worker draws from its own slice of a
range outside Linux's ephemeral one (`ip_local_port_range`), checks that the port is free, and never
hands out the same port twice in a session.
"""

from __future__ import annotations

import os
import random
import socket
from pathlib import Path

_given: set[int] = set()
_random = random.SystemRandom()


def _pool() -> tuple[int, int]:
    """The ports (low, high) outside the kernel's ephemeral range."""
    low, high = 32_768, 60_999
    try:
        text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        low, high = int(text[0]), int(text[1])
    except (OSError, ValueError, IndexError):
        pass
    if low - 10_000 >= 2_000:
        return 10_000, low
    if 65_535 - high >= 2_000:
        return high + 1, 65_536
    return 10_000, 30_000  # no room outside it: still apart from the other worker's ports


def free_port() -> int:
    """A port nobody listens on now, from this xdist worker's own slice."""
    low, high = _pool()
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    count = max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
    index = int(worker) % count if worker.isdigit() else 0
    span = (high - low) // count
    start = low + index * span
    for _ in range(500):
        port = _random.randrange(start, start + span)
        if port in _given:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _given.add(port)
        return port
    raise RuntimeError(f"no free port in {start}-{start + span}")
