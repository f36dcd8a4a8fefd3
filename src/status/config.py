"""What `mmp status` watches and when it complains: one strict model, from `-c status.yaml` or flags.

Secrets never live in this file: a target's API key, the database URI and the webhook URL are read
from environment variables the config names.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from mmp.core.errors import MmpError
from mmp.core.latency import GOOD_MS, WARNING_MS
from mmp.core.yamlio import load_yaml
from mmp.recipe.base import StrictModel
from mmp.recipe.loader import validate_data

DATABASE_ENV = "MMP_STATUS_DATABASE_URL"
WEBHOOK_ENV = "MMP_STATUS_WEBHOOK_URL"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class Target(StrictModel):
    """One model server to scrape."""

    name: str = Field(description="Name shown on the page and used in the API (letters, digits, . _ -).")
    url: str = Field(description="Base URL of an `mmp serve-api` server; `/metrics` is scraped.")
    api_key_env: str | None = Field(
        default=None, description="Environment variable holding the API key sent as `X-API-Key`."
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(
                "use letters, digits, '.', '_' or '-' (at most 64), starting with a letter/digit"
            )
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("give an http:// or https:// URL, e.g. http://127.0.0.1:8000")
        return value.rstrip("/")

    def api_key(self) -> str | None:
        return os.environ.get(self.api_key_env) if self.api_key_env else None


class Thresholds(StrictModel):
    """Tile colours by p95: good below `good_ms`, warning below `warning_ms`, else danger."""

    good_ms: float = Field(default=GOOD_MS, gt=0)
    warning_ms: float = Field(default=WARNING_MS, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if self.warning_ms <= self.good_ms:
            raise ValueError("warning_ms must be greater than good_ms")
        return self

    def grade(self, p95_ms: float | None) -> str:
        if p95_ms is None:
            return "no_data"
        if p95_ms < self.good_ms:
            return "good"
        return "warning" if p95_ms < self.warning_ms else "danger"


class _Rule(StrictModel):
    for_intervals: int = Field(default=1, ge=1, description="Consecutive intervals before it fires.")
    resolve_intervals: int = Field(
        default=1, ge=1, description="Consecutive good intervals before it is resolved."
    )


class P95Above(_Rule):
    kind: Literal["p95_above"] = "p95_above"
    threshold_ms: float = Field(default=WARNING_MS, gt=0)
    for_intervals: int = Field(default=5, ge=1)


class ErrorRateAbove(_Rule):
    kind: Literal["error_rate_above"] = "error_rate_above"
    threshold: float = Field(default=0.05, gt=0, le=1, description="Share of requests answered 5xx.")
    for_intervals: int = Field(default=3, ge=1)


class TargetDown(_Rule):
    kind: Literal["target_down"] = "target_down"
    for_intervals: int = Field(default=3, ge=1)


class ReloadFailed(_Rule):
    kind: Literal["reload_failed"] = "reload_failed"
    resolve_intervals: int = Field(
        default=10, ge=1, description="Intervals without a new reload failure before it is resolved."
    )


class MemoryAbove(_Rule):
    kind: Literal["memory_above"] = "memory_above"
    share: float = Field(default=0.8, gt=0, le=1, description="Share of the container memory limit.")
    for_intervals: int = Field(default=2, ge=1)


Rule = Annotated[
    P95Above | ErrorRateAbove | TargetDown | ReloadFailed | MemoryAbove, Field(discriminator="kind")
]


def default_rules() -> list[Rule]:
    return [P95Above(), ErrorRateAbove(), TargetDown(), ReloadFailed(), MemoryAbove()]


class Alerts(StrictModel):
    """Rules and where to send them. Without the webhook variable set, alerts show on the page only."""

    webhook_url_env: str = Field(default=WEBHOOK_ENV, description="Environment variable with the URL.")
    format: Literal["slack", "json"] = Field(
        default="slack", description="slack: incoming-webhook `{text}`; json: every field, plus text."
    )
    rules: list[Rule] = Field(default_factory=default_rules)

    def webhook_url(self) -> str | None:
        return os.environ.get(self.webhook_url_env) or None


class StatusConfig(StrictModel):
    """Everything `mmp status` needs."""

    targets: list[Target] = Field(default_factory=list)
    interval_s: float = Field(default=60.0, gt=0, description="Seconds between scrapes.")
    scrape_timeout_s: float = Field(default=10.0, gt=0)
    retention_hours: float = Field(default=24 * 7, gt=0, description="Older history is deleted.")
    current_window_s: float = Field(
        default=300.0, gt=0, description="The tiles' 'current' percentiles cover this many seconds."
    )
    database_url_env: str = Field(
        default=DATABASE_ENV, description="Environment variable with a SQLAlchemy URI (PostgreSQL...)."
    )
    database_path: str = Field(
        default="mmp-status.db", description="SQLite file used when that variable is not set."
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8090, ge=0, le=65535)
    page_url: str | None = Field(
        default=None, description="Public link to the page used in alerts (default http://host:port/)."
    )
    thresholds: Thresholds = Field(default_factory=Thresholds)
    alerts: Alerts = Field(default_factory=Alerts)

    @model_validator(mode="after")
    def _unique_names(self) -> StatusConfig:
        names = [t.name for t in self.targets]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"target names must be unique: {', '.join(dupes)}")
        return self

    def database_url(self) -> str:
        return os.environ.get(self.database_url_env) or f"sqlite:///{Path(self.database_path).resolve()}"

    def link(self) -> str:
        return self.page_url or f"http://{self.host}:{self.port}/"

    def target(self, name: str) -> Target | None:
        return next((t for t in self.targets if t.name == name), None)


def parse_target(text: str) -> Target:
    """`NAME=URL` from the command line."""
    name, sep, url = text.partition("=")
    if not sep or not name or not url:
        raise MmpError(f"--target {text!r}: expected NAME=URL", "e.g. --target churn=http://127.0.0.1:8001")
    return validate_data(Target, {"name": name, "url": url}, f"--target {text}", "fix the --target value")


def load_status_config(
    path: str | Path | None, targets: list[str] | None = None, **overrides: object
) -> StatusConfig:
    """The config file (if any), then `--target` values (appended) and every override not None."""
    data: dict[str, object] = {}
    where = "status options"
    if path is not None:
        doc = load_yaml(path, what="status config")
        if not isinstance(doc.data, dict):
            raise MmpError(f"{path}: expected a mapping at the top level", "see docs/status.md")
        data = dict(doc.data)
        where = str(path)
    extra = [parse_target(t).model_dump() for t in targets or []]
    if extra:
        data["targets"] = [*list(data.get("targets") or []), *extra]  # type: ignore[call-overload]
    data.update({k: v for k, v in overrides.items() if v is not None})
    config = validate_data(StatusConfig, data, where, "fix the status config and run again")
    if not config.targets:
        raise MmpError("no targets to watch", "pass --target NAME=URL (repeatable) or -c status.yaml")
    return config
