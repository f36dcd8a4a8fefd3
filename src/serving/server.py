"""Run the scoring app under uvicorn: one in-process worker, or N worker processes.

With one worker the app is built here and served in this process. With N workers uvicorn starts N
fresh interpreters in factory mode (`mmp.serving.app:app_from_env`); each reads the settings from
the environment and loads the model itself, so every worker serves. Either way a model that cannot
be loaded stops the server with a one-line error and a non-zero exit.
"""

from __future__ import annotations

import copy
import os
import tempfile
from pathlib import Path
from typing import Any

from mmp.core.errors import MmpError
from mmp.core.yamlio import redact_url
from mmp.serving.metrics import MULTIPROC_ENV
from mmp.serving.settings import ServeSettings

FACTORY = "mmp.serving.app:app_from_env"
GRACEFUL_SHUTDOWN_S = 15


def log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging, plus mmp's own logger on the same handler."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["mmp"] = {"handlers": ["default"], "level": level.upper(), "propagate": False}
    config["loggers"]["uvicorn"]["level"] = level.upper()
    return config


def _load_failed(settings: ServeSettings, message: str) -> MmpError:
    return MmpError(
        f"cannot serve {redact_url(settings.model_uri)}: {message}",
        "check --model-uri/--run-id and the tracking URI (--config-path or MLFLOW_TRACKING_URI)",
    )


def _bind_failed(settings: ServeSettings) -> MmpError:
    return MmpError(
        f"could not listen on {settings.host}:{settings.port}",
        "is another server using the port? pass --port or set MMP_PORT",
    )


def serve(settings: ServeSettings) -> None:
    """Serve until interrupted. Raises MmpError if the model cannot be loaded or the port is taken."""
    if settings.workers > 1:
        _serve_workers(settings)
    else:
        _serve_in_process(settings)


def _serve_in_process(settings: ServeSettings) -> None:
    import uvicorn

    from mmp.serving.app import create_app

    failures: list[str] = []
    servers: list[uvicorn.Server] = []

    def stop(message: str) -> None:
        failures.append(message)
        for server in servers:
            server.should_exit = True

    app = create_app(settings, on_load_failure=stop)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=log_config(settings.log_level),
        access_log=settings.access_log,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    servers.append(server)
    try:
        server.run()
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise _bind_failed(settings) from None
        raise
    if failures:
        raise _load_failed(settings, failures[0])
    if not server.started:
        raise _bind_failed(settings)


def _serve_workers(settings: ServeSettings) -> None:
    import uvicorn

    with tempfile.TemporaryDirectory(prefix="mmp-serve-") as state:
        worker_settings = settings.model_copy(update={"state_dir": state})
        env = worker_settings.to_env()
        if not os.environ.get(MULTIPROC_ENV):
            metrics_dir = Path(state) / "metrics"
            metrics_dir.mkdir()
            env[MULTIPROC_ENV] = str(metrics_dir)
        previous = {name: os.environ.get(name) for name in env}
        os.environ.update(env)  # spawned workers inherit it
        try:
            uvicorn.run(
                FACTORY,
                factory=True,
                workers=settings.workers,
                host=settings.host,
                port=settings.port,
                log_config=log_config(settings.log_level),
                access_log=settings.access_log,
                timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
                lifespan="on",
            )
        except SystemExit as exc:
            if exc.code not in (0, None):
                raise _bind_failed(settings) from None
            raise
        finally:
            for name, value in previous.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        fatal = worker_settings.fatal_file()
        if fatal is not None and fatal.exists():
            raise _load_failed(settings, fatal.read_text(encoding="utf-8"))
