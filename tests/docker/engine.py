"""A private Docker engine and a local stand-in for `python:3.11-slim`, for tests that build real images.

Our machines and CI have the `docker` client but no engine, and no registry is reachable. This
module follows ../shared/docker-in-ci.md: with Debian's `docker.io` and `mmdebstrap` installed (by
`.ci/run`, as root; the tests skip without them), start a `dockerd` of our own in a temp folder,
and build the base image from a Debian bookworm rootfs (Python 3.11, the version python:3.11-slim
ships) made with mmdebstrap. The rootfs tarball is cached under ~/.cache/mmp-docker (or
$MMP_DOCKER_CACHE) so later runs skip the ~30 s bootstrap. The engine is stopped by its own PID,
never by name.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

BASE_TAG = "python:3.11-slim"
RAW_TAG = "local/python-raw:3.11-slim"
PACKAGES = ("docker.io", "mmdebstrap")
APT_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
HOST_CERTS = Path("/usr/local/share/ca-certificates")
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
MMDEBSTRAP_ARGS = (
    "--variant=minbase",
    "--mode=root",
    "--include=python3,python3-venv,python3-pip,python-is-python3,ca-certificates",
    '--aptopt=Acquire::Check-Valid-Until "false"',
    '--customize-hook=rm -f "$1"/usr/lib/python3.11/EXTERNALLY-MANAGED',
    '--customize-hook=rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*',
    "bookworm",
)


class EngineUnavailable(RuntimeError):
    """The engine cannot run here (not root, no packages); tests skip with this message."""


def cache_dir() -> Path:
    folder = Path(os.environ.get("MMP_DOCKER_CACHE", Path.home() / ".cache" / "mmp-docker"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def ensure_packages() -> None:
    """Check for dockerd and mmdebstrap (machine set-up is `.ci/run`'s job, not the tests')."""
    missing = [
        p for p, command in zip(PACKAGES, ("dockerd", "mmdebstrap"), strict=True) if not shutil.which(command)
    ]
    if missing:
        raise EngineUnavailable(
            f"building images needs {' and '.join(missing)}: .ci/run installs them as root "
            f"(apt-get install -y --no-install-recommends {' '.join(missing)})"
        )
    if os.geteuid() != 0:
        raise EngineUnavailable("a private dockerd and mmdebstrap --mode=root need root")


def compose_command() -> list[str] | None:
    """`docker compose` (v2 plugin) or Debian's `docker-compose` (installed by `.ci/run`), if any.

    Only `config` is run with it (it validates and resolves a compose file; no engine needed).
    """
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True, check=False).returncode == 0
    ):
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


@dataclass
class Engine:
    """A running private dockerd; `docker(...)` runs the client against it."""

    root: Path
    process: subprocess.Popen[bytes]

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "DOCKER_HOST": f"unix://{self.root / 'docker.sock'}",
            "DOCKER_BUILDKIT": "0",  # the legacy builder: buildx is not packaged in Debian
        }

    def docker(
        self, *args: str, check: bool = True, timeout: float = 900, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["docker", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=cwd,
            check=False,
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"docker {' '.join(args)} failed ({result.returncode}):\n{result.stdout[-4000:]}\n"
                f"{result.stderr[-4000:]}"
            )
        return result

    def image_size(self, tag: str) -> int:
        return int(self.docker("image", "inspect", "-f", "{{.Size}}", tag).stdout.strip())

    def has_image(self, tag: str) -> bool:
        return self.docker("image", "inspect", tag, check=False).returncode == 0

    def log_tail(self, limit: int = 3000) -> str:
        log = self.root / "dockerd.log"
        return log.read_text(errors="replace")[-limit:] if log.exists() else ""


@contextlib.contextmanager
def running_engine(root: Path, start_timeout: float = 60) -> Iterator[Engine]:
    """Start dockerd with its data, sockets and PID file under `root`; stop it by PID on exit."""
    ensure_packages()
    root.mkdir(parents=True, exist_ok=True)
    log = (root / "dockerd.log").open("wb")
    process = subprocess.Popen(
        [
            "dockerd",
            "--data-root",
            str(root / "data"),
            "--exec-root",
            str(root / "exec"),
            "-H",
            f"unix://{root / 'docker.sock'}",
            "--pidfile",
            str(root / "dockerd.pid"),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=_die_with_parent,
    )
    engine = Engine(root=root, process=process)
    try:
        deadline = time.monotonic() + start_timeout
        while engine.docker("info", check=False, timeout=30).returncode != 0:
            if process.poll() is not None or time.monotonic() > deadline:
                raise EngineUnavailable(f"dockerd did not start:\n{engine.log_tail()}")
            time.sleep(0.5)
        yield engine
    finally:
        _stop(process)
        log.close()


def _die_with_parent() -> None:
    """Linux: SIGTERM the engine if the test process dies without its teardown (killed, timed out),
    so no orphan dockerd keeps running."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def _rootfs_key(args: tuple[str, ...]) -> str:
    digest = hashlib.sha256("\n".join(args).encode())
    if APT_SOURCES.is_file():
        digest.update(APT_SOURCES.read_bytes())
    return digest.hexdigest()[:12]


def base_rootfs(log: Path, args: tuple[str, ...] = MMDEBSTRAP_ARGS, name: str = "python-3.11") -> Path:
    """A cached Debian bookworm rootfs tarball (Python 3.11 by default), built once with mmdebstrap."""
    tarball = cache_dir() / f"{name}-bookworm-{_rootfs_key(args)}.tar"
    if tarball.is_file():
        return tarball
    partial = tarball.with_suffix(".partial.tar")
    command = ["mmdebstrap", *args, str(partial)]
    if APT_SOURCES.is_file():
        command.append(str(APT_SOURCES))  # reuse the host's mirror
    with log.open("wb") as out:
        result = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, timeout=900, check=False)
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        raise RuntimeError(f"mmdebstrap failed:\n{log.read_text(errors='replace')[-4000:]}")
    partial.rename(tarball)
    return tarball


def base_dockerfile(certs: list[str]) -> str:
    """One layer over the raw rootfs: the host's extra CAs (TLS-inspecting networks) and pip's env."""
    lines = [f"FROM {RAW_TAG}"]
    if certs:
        lines.append(f"COPY {' '.join(certs)} /usr/local/share/ca-certificates/")
        lines.append("RUN update-ca-certificates")
    lines += [
        f"ENV SSL_CERT_FILE={CA_BUNDLE} PIP_CERT={CA_BUNDLE} REQUESTS_CA_BUNDLE={CA_BUNDLE} LANG=C.UTF-8",
        'CMD ["python3"]',
    ]
    return "\n".join(lines) + "\n"


def ensure_base_image(engine: Engine, work: Path) -> str:
    """Tag a stand-in for python:3.11-slim in the engine; return the tag."""
    if engine.has_image(BASE_TAG):
        return BASE_TAG
    work.mkdir(parents=True, exist_ok=True)
    tarball = base_rootfs(work / "mmdebstrap.log")
    engine.docker("import", str(tarball), RAW_TAG, timeout=600)
    context = work / "base-context"
    context.mkdir(exist_ok=True)
    certs = []
    for cert in sorted(HOST_CERTS.glob("*.crt")) if HOST_CERTS.is_dir() else []:
        shutil.copy(cert, context / cert.name)
        certs.append(cert.name)
    (context / "Dockerfile").write_text(base_dockerfile(certs), encoding="utf-8")
    engine.docker("build", "-t", BASE_TAG, str(context), timeout=600)
    return BASE_TAG


# ---- a stand-in for the official postgres:16 image, from Debian's `postgresql` package ----------
# Bookworm ships PostgreSQL 15; what the compose stack relies on is the official image's interface,
# which the entrypoint below reproduces: POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB create the
# role (password auth over TCP) and database on first start, data in PGDATA, `pg_isready` on PATH,
# the server running as the `postgres` user.
POSTGRES_TAG = "postgres:16"
POSTGRES_RAW_TAG = "local/postgres-raw:bookworm"
POSTGRES_MMDEBSTRAP_ARGS = (
    "--variant=minbase",
    "--mode=root",
    "--include=postgresql,postgresql-client",
    '--aptopt=Acquire::Check-Valid-Until "false"',
    # Debian's package creates a cluster and policy files for its service wrapper: not used here.
    '--customize-hook=rm -rf "$1"/var/lib/postgresql/15/main "$1"/etc/postgresql/15/main',
    '--customize-hook=rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*',
    "bookworm",
)
POSTGRES_ENTRYPOINT = """#!/bin/sh
# The official image's first-start behaviour: role, password and database from the environment.
set -eu
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set}"
    user="${POSTGRES_USER:-postgres}"
    pwfile="$(mktemp)"
    printf '%s' "$POSTGRES_PASSWORD" > "$pwfile"
    initdb -D "$PGDATA" -U "$user" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm -f "$pwfile"
    echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
    pg_ctl -D "$PGDATA" -w -o "-c listen_addresses=''" start >/dev/null
    db="${POSTGRES_DB:-$user}"
    if [ "$db" != postgres ]; then createdb -U "$user" "$db"; fi
    pg_ctl -D "$PGDATA" -w stop >/dev/null
fi
exec "$@"
"""
POSTGRES_DOCKERFILE = f"""FROM {POSTGRES_RAW_TAG}
ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \\
    PGDATA=/var/lib/postgresql/data LANG=C.UTF-8
COPY docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
RUN chmod 755 /usr/local/bin/docker-entrypoint.sh \\
    && install -d -o postgres -g postgres -m 700 /var/lib/postgresql/data \\
    && install -d -o postgres -g postgres /var/run/postgresql
USER postgres
EXPOSE 5432
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres", "-c", "listen_addresses=*"]
"""


def ensure_postgres_image(engine: Engine, work: Path) -> str:
    """Tag a stand-in for postgres:16 in the engine (rootfs tarball cached like the Python one)."""
    if engine.has_image(POSTGRES_TAG):
        return POSTGRES_TAG
    work.mkdir(parents=True, exist_ok=True)
    tarball = base_rootfs(work / "mmdebstrap-postgres.log", POSTGRES_MMDEBSTRAP_ARGS, "postgres")
    engine.docker("import", str(tarball), POSTGRES_RAW_TAG, timeout=600)
    context = work / "postgres-context"
    context.mkdir(exist_ok=True)
    (context / "docker-entrypoint.sh").write_text(POSTGRES_ENTRYPOINT, encoding="utf-8")
    (context / "Dockerfile").write_text(POSTGRES_DOCKERFILE, encoding="utf-8")
    engine.docker("build", "-t", POSTGRES_TAG, str(context), timeout=600)
    return POSTGRES_TAG


def prepare_base_rootfs() -> None:
    """Machine set-up for `.ci/run` (as root): the rootfs tarballs the stand-in base images are
    made from, bootstrapped once with mmdebstrap (~1-4 min) into the cache so no test waits for
    them. The fixtures still make them when missing, so `pytest` alone works on a fresh machine."""
    import tempfile

    ensure_packages()
    with tempfile.TemporaryDirectory(prefix="mmp-rootfs-") as tmp:
        for args, name in ((MMDEBSTRAP_ARGS, "python-3.11"), (POSTGRES_MMDEBSTRAP_ARGS, "postgres")):
            print(f"{name}: {base_rootfs(Path(tmp) / f'{name}.log', args, name)}")


if __name__ == "__main__":
    try:
        prepare_base_rootfs()
    except EngineUnavailable as exc:
        print(f"skipped: {exc}")
