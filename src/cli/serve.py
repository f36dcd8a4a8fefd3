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
        None, "--host", envvar="MMP_HOST", help="Default: config, else 127.0.0.1."
    ),
    port: int | None = typer.Option(
        None, "--port", "-p", envvar="MMP_PORT", help="Default: config, else 8000."
    ),
    workers: int | None = typer.Option(
        None, "--workers", "-w", envvar="MMP_WORKERS", min=1, help="Worker processes; each loads the model."
    ),
    reload_interval: float | None = typer.Option(
        None,
        "--reload-interval",
        envvar="MMP_RELOAD_INTERVAL",
        min=0,
        help="Seconds between checks of an alias or latest for a new version (default 30; 0 = off).",
    ),
    max_batch_records: int | None = typer.Option(None, "--max-batch-records", min=1, help="Default 1000."),
    timeout: float | None = typer.Option(None, "--timeout", min=0.001, help="Per-request timeout, s (504)."),
    micro_batching: bool | None = typer.Option(
        None, "--micro-batching/--no-micro-batching", help="Group concurrent requests (default on)."
    ),
    log_level: str = typer.Option(
        "info", "--log-level", envvar="MMP_LOG_LEVEL", help="debug, info, warning..."
    ),
    access_log: bool = typer.Option(False, "--access-log", help="Log one line per request."),
) -> None:
    """Serve a trained model over HTTP: typed /predict and /predict/batch, /health, /ready, /metrics.

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
        log_level=log_level.lower(),
        access_log=access_log,
    )
    serve(settings)
