"""Everything one serving process needs to know, in one typed object that survives a trip through
the environment.

`mmp serve-api --workers N` starts N fresh interpreters (uvicorn factory mode); each rebuilds its
app from `MMP_SERVE_SETTINGS`, a JSON copy of these settings. API keys never travel in that copy:
every worker reads them from the environment variable the settings name.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from mmp.core.errors import MmpError
from mmp.core.latency import DEFAULT_LATENCY_BUCKETS_S
from mmp.recipe.config import PredictionLogSettings, ServingSettings

SETTINGS_ENV = "MMP_SERVE_SETTINGS"
DEFAULT_KEYS_ENV = "MMP_API_KEYS"

LogLevel = Literal["critical", "error", "warning", "info", "debug"]


class ServeSettings(BaseModel):
    """One served model and how to serve it. Build it with `from_config`; the CLI does."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model_uri: str = Field(
        description="runs:/, models:/NAME/V, models:/NAME@ALIAS, models:/m-... or a folder."
    )
    tracking_uri: str | None = Field(
        default=None, description="MLflow tracking URI used to resolve the model."
    )
    registry_uri: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1)
    api_keys_env: str = DEFAULT_KEYS_ENV
    api_keys: tuple[SecretStr, ...] | None = Field(
        default=None,
        exclude=True,
        description="Keys given directly (tests, embedding); otherwise read from `api_keys_env`.",
    )
    docs_public: bool = True
    max_batch_records: int = Field(default=1000, gt=0)
    max_body_bytes: int = Field(default=10_000_000, gt=0)
    request_timeout_s: float = Field(default=10.0, gt=0)
    reload_interval_s: float = Field(default=30.0, ge=0)
    micro_batching: bool = True
    micro_batch_max_size: int = Field(default=32, gt=0)
    micro_batch_max_wait_ms: float = Field(default=2.0, ge=0)
    latency_buckets_s: tuple[float, ...] = DEFAULT_LATENCY_BUCKETS_S
    prediction_log: PredictionLogSettings = Field(default_factory=PredictionLogSettings)
    log_level: LogLevel = "info"
    access_log: bool = False
    state_dir: str | None = Field(
        default=None, description="Folder where a worker that cannot load the model leaves its error."
    )

    @classmethod
    def from_config(cls, serving: ServingSettings, model_uri: str, **overrides: Any) -> ServeSettings:
        """Config defaults, then every override that is not None (command-line options)."""
        values: dict[str, Any] = {
            "host": serving.host,
            "port": serving.port,
            "workers": serving.workers,
            "api_keys_env": serving.api_keys_env or DEFAULT_KEYS_ENV,
            "docs_public": serving.docs_public,
            "max_batch_records": serving.max_batch_records,
            "max_body_bytes": serving.max_body_bytes,
            "request_timeout_s": serving.request_timeout_s,
            "reload_interval_s": serving.reload_interval_s,
            "micro_batching": serving.micro_batching,
            "micro_batch_max_size": serving.micro_batch_max_size,
            "micro_batch_max_wait_ms": serving.micro_batch_max_wait_ms,
            "latency_buckets_s": tuple(serving.latency_buckets_s),
            "prediction_log": serving.prediction_log,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(model_uri=model_uri, **values)

    def keys(self) -> tuple[str, ...]:
        """The accepted API keys; empty means the API is open."""
        if self.api_keys is not None:
            return tuple(k.get_secret_value() for k in self.api_keys if k.get_secret_value())
        raw = os.environ.get(self.api_keys_env, "")
        return tuple(k.strip() for k in raw.split(",") if k.strip())

    def to_env(self) -> dict[str, str]:
        """The environment a worker process needs to rebuild these settings (never the keys)."""
        return {SETTINGS_ENV: self.model_dump_json()}

    @classmethod
    def from_env(cls) -> ServeSettings:
        raw = os.environ.get(SETTINGS_ENV)
        if not raw:
            raise MmpError(
                f"{SETTINGS_ENV} is not set: this factory is meant for workers started by mmp serve-api",
                "start the server with mmp serve-api --model-uri ...",
            )
        return cls.model_validate(json.loads(raw))

    def fatal_file(self) -> Path | None:
        return Path(self.state_dir) / "fatal.txt" if self.state_dir else None
