"""From command-line options to `ServeSettings`.

Cheap checks happen here, before any heavy import: exactly one of run id / model URI, a local
folder that really holds a model, settings that validate. Everything else is checked by loading.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmp.core.model_ref import ModelRef
from mmp.recipe.loader import load_config
from mmp.serving.settings import ServeSettings


def settings_from_options(
    run_id: str | None, model_uri: str | None, config_path: Path | None, **options: Any
) -> ServeSettings:
    """The given options, then `MMP_*` variables, then the config's `serving` block (see
    `ServeSettings`). The MLflow store follows the one tracking rule (`MlflowSettings.store`): the
    config's tracking_uri, else MLFLOW_TRACKING_URI, else the local default."""
    uri = ModelRef.from_options(run_id, model_uri).uri
    config = load_config(config_path).model
    store = config.mlflow.store()
    return ServeSettings.from_sources(
        config.serving,
        model_uri=uri,
        tracking_uri=store.tracking_uri,
        registry_uri=store.registry_uri,
        **options,
    )
