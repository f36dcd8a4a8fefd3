"""`mmp status`: parse options, build the status config, run the service."""

from __future__ import annotations

from pathlib import Path

import typer


def status(
    target: list[str] = typer.Option(
        [], "--target", "-t", help="NAME=URL of an mmp serve-api server to watch (repeatable)."
    ),
    config_path: Path | None = typer.Option(
        None,
        "--config",
        "-c",
        help="status.yaml: targets, interval, thresholds, alert rules (docs/status.md).",
    ),
    host: str | None = typer.Option(None, "--host", help="Default: config, else 127.0.0.1."),
    port: int | None = typer.Option(None, "--port", "-p", help="Default: config, else 8090."),
    interval: float | None = typer.Option(
        None, "--interval", min=0.01, help="Seconds between scrapes (default 60)."
    ),
    log_level: str = typer.Option("info", "--log-level", help="debug, info, warning..."),
) -> None:
    """Watch model servers: per-model p50/p95/p99 with 24 h history, a status page, webhook alerts.

    History goes to SQLite (mmp-status.db) unless MMP_STATUS_DATABASE_URL holds a SQLAlchemy URI;
    alerts go to the webhook in MMP_STATUS_WEBHOOK_URL (Slack-compatible).
    """
    from mmp.core.errors import import_optional

    import_optional("fastapi", "serving")
    from mmp.status.config import load_status_config
    from mmp.status.service import serve

    config = load_status_config(config_path, target, host=host, port=port, interval_s=interval)
    serve(config, log_level.lower())
