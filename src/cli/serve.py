"""`mmp serve-api`: parse options, build the serving settings, run the server."""

from __future__ import annotations

from pathlib import Path

import typer

from mmp.cli.options import ConfigPath, ModelUri, RunId


def serve_api(
    run_id: str | None = RunId,
    model_uri: str | None = ModelUri,
    config_path: Path | None = ConfigPath,
    host: str | None = typer.Option(
        None,
        "--host",
        help="Interface to bind (env MMP_HOST; config; default 127.0.0.1).",
        show_default=False,
    ),
    port: int | None = typer.Option(
        None, "--port", "-p", help="(env MMP_PORT; config; default 8000).", show_default=False
    ),
    workers: int | None = typer.Option(
        None,
        "--workers",
        "-w",
        min=1,
        help="Worker processes; each loads the model (env MMP_WORKERS; config; default 1).",
        show_default=False,
    ),
    reload_interval: float | None = typer.Option(
        None,
        "--reload-interval",
        min=0,
        help="Seconds between checks of an alias or latest for a new version; 0 = off "
        "(env MMP_RELOAD_INTERVAL_S; config; default 30).",
        show_default=False,
    ),
    max_batch_records: int | None = typer.Option(
        None,
        "--max-batch-records",
        min=1,
        help="(env MMP_MAX_BATCH_RECORDS; default 1000).",
        show_default=False,
    ),
    timeout: float | None = typer.Option(
        None,
        "--timeout",
        min=0.001,
        help="Per-request timeout, s (504) (env MMP_REQUEST_TIMEOUT_S; default 10).",
        show_default=False,
    ),
    micro_batching: bool | None = typer.Option(
        None,
        "--micro-batching/--no-micro-batching",
        help="Group concurrent requests (env MMP_MICRO_BATCHING; default on).",
        show_default=False,
    ),
    log_level: str | None = typer.Option(
        None,
        "--log-level",
        help="debug, info, warning... (env MMP_LOG_LEVEL; default info).",
        show_default=False,
    ),
    access_log: bool | None = typer.Option(
        None,
        "--access-log/--no-access-log",
        help="Log one line per request (env MMP_ACCESS_LOG).",
        show_default=False,
    ),
) -> None:
    """Serve a trained model over HTTP: typed /predict and /predict/batch, /health, /ready, /metrics.

    Each setting: its option, else its MMP_* variable, else the config, else the default.

    API keys come from the MMP_API_KEYS environment variable (comma-separated), or the variable
    named by serving.api_keys_env in the config; without keys the API is open.
    """
    from mmp.serving.launch import settings_from_options
    from mmp.serving.server import serve

    settings = settings_from_options(
        run_id=run_id,
        model_uri=model_uri,
        config_path=config_path,
        host=host,
        port=port,
        workers=workers,
        reload_interval_s=reload_interval,
        max_batch_records=max_batch_records,
        request_timeout_s=timeout,
        micro_batching=micro_batching,
        log_level=log_level.lower() if log_level else None,
        access_log=access_log,
    )
    serve(settings)
