"""Run the scoring app under uvicorn: one in-process worker, or N worker processes.

With one worker the app is built here and served in this process. With N workers uvicorn starts N
fresh interpreters in factory mode (`mmp.serving.app:app_from_env`); each reads the settings from
the environment and loads the model itself, so every worker serves. Either way a model that cannot
be loaded stops the server with a one-line error and a non-zero exit, and so does a missing
`serving` extra, checked here before any worker is started.
"""

from __future__ import annotations

import copy
import os
import socket
import tempfile
from pathlib import Path
from typing import Any

from mmp.core.errors import MmpError, import_optional
from mmp.core.yamlio import redact_url
from mmp.serving.metrics import MULTIPROC_ENV
from mmp.serving.settings import ServeSettings

FACTORY = "mmp.serving.app:app_from_env"
GRACEFUL_SHUTDOWN_S = 15
SERVING_MODULES = ("fastapi", "uvicorn", "prometheus_client", "httpx")
BACKLOG = 2048


def require_serving_extra() -> None:
    """Raise a one-line `MissingExtraError` if a module of the `serving` extra is missing."""
    for module in SERVING_MODULES:
        import_optional(module, "serving")


def log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging, plus mmp's own logger on the same handler."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["mmp"] = {"handlers": ["default"], "level": level.upper(), "propagate": False}
    config["loggers"]["uvicorn"]["level"] = level.upper()
    return config


def _load_failed(settings: ServeSettings, message: str) -> MmpError:
    if message.startswith("cannot serve "):
        return MmpError(message)
    return MmpError(
        f"cannot serve {redact_url(settings.model_uri)}: {message}",
        "check --model-uri/--run-id and the tracking URI (--config-path or MLFLOW_TRACKING_URI)",
    )


def _bind_failed(settings: ServeSettings) -> MmpError:
    return MmpError(
        f"could not listen on {settings.host}:{settings.port}",
        "is another server using the port? pass --port or set MMP_PORT",
    )


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, created as TCP explicitly.

    asyncio turns Nagle's algorithm off (TCP_NODELAY) only on connections whose socket says it is
    TCP; a socket made with protocol 0, as uvicorn makes the one it shares with its workers, keeps
    Nagle on, and each response then waits for the client's delayed ACK (40 ms on Linux)."""
    sock = _tcp_socket(host)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _tcp_socket(host: str, kind: type[socket.socket] = socket.socket) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return kind(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)


class WorkerSocket(socket.socket):
    """The port the workers share, as a recipe: each worker that receives it (uvicorn pickles its
    sockets into the spawned workers) opens its own listening socket on the same address with
    SO_REUSEPORT, and the kernel spreads new connections evenly over the workers.

    With one socket shared by every worker, whichever worker's event loop wakes first accepts every
    connection waiting (asyncio accepts up to the backlog in one go): a burst of keep-alive clients
    often all landed on one worker while the other idled (2 workers served 32 clients at ~1.2x one
    worker). The parent only binds this socket, never listens on it, so it holds the port (a port in
    use is one clear error before any worker starts) but is never handed a connection."""

    def __reduce__(self) -> tuple[Any, ...]:
        host, port = self.getsockname()[:2]
        return (reuse_port_listener, (host, port))


def reserve_port(host: str, port: int) -> WorkerSocket:
    """Bind (not listen) the workers' address with SO_REUSEPORT; raises OSError if it is taken."""
    sock = _tcp_socket(host, WorkerSocket)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    assert isinstance(sock, WorkerSocket)
    return sock


def reuse_port_listener(host: str, port: int) -> socket.socket:
    """A worker's own listening socket on the shared address (see `WorkerSocket`)."""
    sock = _tcp_socket(host)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(BACKLOG)
    return sock


def serve(settings: ServeSettings) -> None:
    """Serve until interrupted. Raises MmpError if the serving extra is missing, the model cannot be
    loaded or the port is taken."""
    require_serving_extra()
    if settings.workers > 1:
        _serve_workers(settings)
    else:
        _serve_in_process(settings)


def _uvicorn_config(app: Any, settings: ServeSettings, **extra: Any) -> Any:
    import uvicorn

    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=log_config(settings.log_level),
        log_level=settings.log_level,
        access_log=settings.access_log,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        lifespan="on",
        backlog=BACKLOG,
        **extra,
    )


def _serve_in_process(settings: ServeSettings) -> None:
    import uvicorn

    from mmp.serving.app import create_app

    failures: list[str] = []
    servers: list[uvicorn.Server] = []

    def stop(message: str) -> None:
        failures.append(message)
        for server in servers:
            server.should_exit = True

    try:
        sock = listen(settings.host, settings.port)
    except OSError:
        raise _bind_failed(settings) from None
    with sock:
        try:
            app = create_app(settings, on_load_failure=stop)
        except MmpError as exc:
            raise _load_failed(settings, str(exc)) from None
        server = uvicorn.Server(_uvicorn_config(app, settings))
        servers.append(server)
        server.run(sockets=[sock])
    if failures:
        raise _load_failed(settings, failures[0])
    if not server.started:
        raise _bind_failed(settings)


def _serve_workers(settings: ServeSettings) -> None:
    from uvicorn.supervisors import Multiprocess

    with tempfile.TemporaryDirectory(prefix="mmp-serve-") as state:
        worker_settings = settings.model_copy(update={"state_dir": state})
        env = worker_settings.to_env()
        if not os.environ.get(MULTIPROC_ENV):
            metrics_dir = Path(state) / "metrics"
            metrics_dir.mkdir()
            env[MULTIPROC_ENV] = str(metrics_dir)
        try:
            sock = reserve_port(settings.host, settings.port)
        except OSError:
            raise _bind_failed(settings) from None
        previous = {name: os.environ.get(name) for name in env}
        os.environ.update(env)  # spawned workers inherit it
        try:
            config = _uvicorn_config(FACTORY, settings, factory=True, workers=settings.workers)
            with sock:
                Multiprocess(config, sockets=[sock]).run()
        finally:
            for name, value in previous.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        fatal = worker_settings.fatal_file()
        if fatal is not None and fatal.exists():
            raise _load_failed(settings, fatal.read_text(encoding="utf-8"))
