"""A private PostgreSQL server for the tests that need a real one (batch SQL, the promotion mirror,
the status store): one cluster per test session in a temp folder, on a free loopback port, started
with Debian's `postgresql` binaries (installed by `.ci/run`), and one fresh database per test.

The fixtures are `postgres_server` and `postgres_url` in tests/conftest.py.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.ports import free_port


class PostgresUnavailable(RuntimeError):
    """No server can run here (no binaries, no driver, root without runuser); tests skip with this."""


@dataclass
class PostgresServer:
    """A running cluster whose superuser `mmp` connects without a password over loopback."""

    port: int
    _names: Iterator[int] = field(default_factory=itertools.count)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://mmp@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """An empty database of its own (tests never see each other's tables); its SQLAlchemy URL."""
        import psycopg

        name = f"test_{next(self._names)}"
        with psycopg.connect(f"postgresql://mmp@127.0.0.1:{self.port}/postgres", autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")  # a generated identifier, never user input
        return self.url(name)


def _postgres_bin() -> Path | None:
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").is_file() and (candidate / "pg_ctl").is_file():
            return candidate
    found = shutil.which("pg_ctl")
    return Path(found).resolve().parent if found else None


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """initdb + pg_ctl start (fsync off: a throwaway cluster); stopped and removed on exit."""
    try:
        import psycopg  # noqa: F401
    except ImportError as exc:
        raise PostgresUnavailable("the PostgreSQL driver psycopg is not installed (dev group)") from exc
    bindir = _postgres_bin()
    if bindir is None:
        raise PostgresUnavailable(
            "PostgreSQL server binaries not found (.ci/run installs them: apt-get install postgresql)"
        )
    # Not under pytest's temp root: that is private to root, and the server runs as postgres.
    folder = Path(tempfile.mkdtemp(prefix="mmp-postgres-"))
    data, port = folder / "data", free_port()
    prefix: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root: use the postgres account
        if shutil.which("runuser") is None:
            shutil.rmtree(folder, ignore_errors=True)
            raise PostgresUnavailable("running as root without runuser: PostgreSQL refuses to run as root")
        shutil.chown(folder, user="postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    run = {"check": True, "capture_output": True, "timeout": 120}
    try:
        subprocess.run([*prefix, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "mmp"], **run)
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = folder / "server.log"
        subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(log),
                        "-w", "start"], **run)  # fmt: skip
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        detail = (getattr(exc, "stderr", b"") or b"").decode(errors="replace").strip().splitlines()[-1:]
        shutil.rmtree(folder, ignore_errors=True)
        raise PostgresUnavailable(f"could not start a private PostgreSQL server: {exc} {detail}") from exc
    try:
        yield PostgresServer(port)
    finally:
        subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True, timeout=60, check=False)  # fmt: skip
        shutil.rmtree(folder, ignore_errors=True)
