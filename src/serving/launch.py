"""From command-line options to `ServeSettings`.

Cheap checks happen here, before any heavy import: exactly one of run id / model URI, a local
folder that really holds a model, settings that validate. Everything else is checked by loading.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mmp.core.model_store import resolve_uri
from mmp.recipe.loader import load_config
from mmp.serving.settings import ServeSettings


def settings_from_options(
    run_id: str | None, model_uri: str | None, config_path: Path | None, **options: Any
) -> ServeSettings:
    """The given options, then `MMP_*` variables, then the config's `serving` block (see
    `ServeSettings`). The tracking URI is the config's when a config is given, else
    MLFLOW_TRACKING_URI, else the local default."""
    uri = resolve_uri(run_id, model_uri)
    config = load_config(config_path).model
    tracking = config.mlflow.tracking_uri
    if config_path is None and os.environ.get("MLFLOW_TRACKING_URI"):
        tracking = os.environ["MLFLOW_TRACKING_URI"]
    return ServeSettings.from_sources(
        config.serving,
        model_uri=uri,
        tracking_uri=tracking,
        registry_uri=config.mlflow.registry_uri,
        **options,
    )
