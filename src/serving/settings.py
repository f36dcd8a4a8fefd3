"""Everything one serving process needs to know, in one typed settings model with three sources.

`ServeSettings` is the config file's `serving:` block (`ServingSettings`, where each option is
declared once, with its default and description) plus what names the model and how to log. Its
values come from, highest first:

1. what the caller passes (the command-line options that were given),
2. environment variables `MMP_<FIELD>` (`MMP_PORT`, `MMP_WORKERS`, `MMP_RELOAD_INTERVAL_S`, ...),
3. the config file's `serving:` block (`--config-path`),
4. the defaults declared on the fields.

pydantic-settings applies that order (`settings_customise_sources`). `mmp serve-api --workers N`
starts N fresh interpreters (uvicorn factory mode); each rebuilds exactly these values from
`MMP_SERVE_SETTINGS`, a JSON copy that never carries API keys: every worker reads them from the
environment variable the settings name.
"""

from __future__ import annotations

import json
import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from mmp.core.errors import MmpError
from mmp.recipe.config import ServingSettings

SETTINGS_ENV = "MMP_SERVE_SETTINGS"
DEFAULT_KEYS_ENV = "MMP_API_KEYS"
ENV_PREFIX = "MMP_"

LogLevel = Literal["critical", "error", "warning", "info", "debug"]

# The config block passed to `ServeSettings.from_sources`, read by `_ConfigBlock` while it runs.
_CONFIG_BLOCK: ContextVar[dict[str, Any] | None] = ContextVar("mmp_serving_config_block", default=None)


class ServeSettings(ServingSettings, BaseSettings):
    """One served model and how to serve it. Build it with `from_sources`; the CLI does."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="forbid", frozen=True, validate_default=True, env_ignore_empty=True
    )

    model_uri: str = Field(
        description="runs:/, models:/NAME/V, models:/NAME@ALIAS, models:/NAME/latest, models:/m-... "
        "or a folder."
    )
    tracking_uri: str | None = Field(
        default=None, description="MLflow tracking URI used to resolve the model (the tracking rule)."
    )
    registry_uri: str | None = None
    api_keys: tuple[SecretStr, ...] | None = Field(
        default=None,
        exclude=True,
        description="Keys given directly (tests, embedding); otherwise read from `api_keys_env`.",
    )
    log_level: LogLevel = Field(default="info", description="uvicorn's and mmp's log level.")
    access_log: bool = Field(default=False, description="Log one line per request.")
    state_dir: str | None = Field(
        default=None, description="Folder the server shares with its workers (errors, /stats)."
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, _Environment(settings_cls), _ConfigBlock(settings_cls)

    @classmethod
    def from_sources(cls, serving: ServingSettings | None = None, **options: Any) -> ServeSettings:
        """Options that are not None, then `MMP_*` variables, then the config's `serving` block."""
        block = serving.model_dump(exclude_unset=True) if serving is not None else {}
        token = _CONFIG_BLOCK.set(block)
        try:
            return cls(**{k: v for k, v in options.items() if v is not None})
        except ValidationError as exc:
            first = exc.errors()[0]
            name = ".".join(str(p) for p in first["loc"])
            source = (
                f"the option, {cls.env_name(name)} or serving.{name} in the config"
                if name in ENV_FIELDS
                else "the option"
            )
            raise MmpError(
                f"serving setting {name}: {first['msg']}", f"fix the value given by {source}"
            ) from None
        finally:
            _CONFIG_BLOCK.reset(token)

    @classmethod
    def env_name(cls, field: str) -> str:
        """The environment variable that sets `field` (for help texts and docs)."""
        return f"{ENV_PREFIX}{field.upper()}"

    def keys(self) -> tuple[str, ...]:
        """The accepted API keys; empty means the API is open."""
        if self.api_keys is not None:
            return tuple(k.get_secret_value() for k in self.api_keys if k.get_secret_value())
        raw = os.environ.get(self.api_keys_env or DEFAULT_KEYS_ENV, "")
        return tuple(k.strip() for k in raw.split(",") if k.strip())

    def to_env(self) -> dict[str, str]:
        """The environment a worker process needs to rebuild these settings (never the keys)."""
        return {SETTINGS_ENV: self.model_dump_json()}

    @classmethod
    def from_env(cls) -> ServeSettings:
        """The settings the parent process passed (validated as they are: no source is read again)."""
        raw = os.environ.get(SETTINGS_ENV)
        if not raw:
            raise MmpError(
                f"{SETTINGS_ENV} is not set: this factory is meant for workers started by mmp serve-api",
                "start the server with mmp serve-api --model-uri ...",
            )
        return cls.model_validate(json.loads(raw))

    def fatal_file(self) -> Path | None:
        return Path(self.state_dir) / "fatal.txt" if self.state_dir else None


# Settings an environment variable may set: the serving block and logging. What names the model
# and the tracking store have their own rules (`--model-uri`/`MMP_MODEL_URI`, the tracking rule),
# and keys are read from the variable `api_keys_env` names, never parsed as settings.
ENV_FIELDS = frozenset(ServingSettings.model_fields) | {"log_level", "access_log"}


class _Environment(EnvSettingsSource):
    """`MMP_<FIELD>` variables, for the fields in `ENV_FIELDS` only."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        if field_name not in ENV_FIELDS:
            return None, field_name, False
        return super().get_field_value(field, field_name)


class _ConfigBlock(PydanticBaseSettingsSource):
    """The config file's `serving:` block: the keys it sets, below options and environment."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return (_CONFIG_BLOCK.get() or {}).get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_CONFIG_BLOCK.get() or {})
