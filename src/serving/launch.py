"""From command-line options (or their environment variables) to `ServeSettings`.

Cheap checks happen here, before any heavy import: exactly one of run id / model URI, a local
folder that really holds a model, a known log level. Everything else is checked by loading.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmp.core.errors import MmpError
from mmp.core.model_ref import ModelRef
from mmp.recipe.loader import load_config
from mmp.serving.settings import ServeSettings

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def settings_from_options(
    run_id: str | None, model_uri: str | None, config_path: Path | None, **overrides: Any
) -> ServeSettings:
    """Config file defaults, overridden by every option given. The MLflow store follows the one
    tracking rule (`MlflowSettings.store`): the config's tracking_uri, else MLFLOW_TRACKING_URI,
    else the local default."""
    level = overrides.get("log_level")
    if level is not None and level not in LOG_LEVELS:
        raise MmpError(f"unknown log level {level!r}", f"use one of {', '.join(LOG_LEVELS)}")
    uri = ModelRef.from_options(run_id, model_uri).uri
    config = load_config(config_path).model
    store = config.mlflow.store()
    return ServeSettings.from_config(
        config.serving,
        model_uri=uri,
        tracking_uri=store.tracking_uri,
        registry_uri=store.registry_uri,
        **overrides,
    )
