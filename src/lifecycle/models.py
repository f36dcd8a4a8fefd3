"""Every registry call of the lifecycle in one place: which version an alias names, moving it, versions.

Model URIs are parsed and loaded through `mmp.core.model_ref` / `mmp.core.model_store` (the one
resolver serving and batch use); this module only adds what promotion needs on top: read and move
an alias, check a version, and the promotion lock. Every call takes the command's `MlflowClient`
(from `config.mlflow.store().client()`): no process-wide MLflow state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mmp.core.errors import MmpError, first_line


def registry_uri(name: str, version: str) -> str:
    return f"models:/{name}/{version}"


def require_model(client: Any, name: str) -> None:
    """A one-line error when no registered model has this name."""
    import mlflow

    try:
        client.get_registered_model(name)
    except mlflow.exceptions.MlflowException:
        raise MmpError(
            f"no registered model named '{name}'",
            "check the name (mlflow models list), or register one with mmp train --register-as NAME",
        ) from None


def alias_version(client: Any, name: str, alias: str) -> str | None:
    """The version `name@alias` points to now, or None when the alias is not set."""
    import mlflow

    require_model(client, name)
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except mlflow.exceptions.MlflowException:
        return None


def require_version(client: Any, name: str, version: str) -> None:
    import mlflow

    require_model(client, name)
    try:
        client.get_model_version(name, version)
    except mlflow.exceptions.MlflowException:
        raise MmpError(
            f"model '{name}' has no version {version}", "list its versions in the MLflow UI or mmp history"
        ) from None


def move_alias(client: Any, name: str, alias: str, version: str) -> None:
    try:
        client.set_registered_model_alias(name, alias, version)
    except Exception as exc:  # noqa: BLE001 - stores raise many types
        raise MmpError(f"cannot point {name}@{alias} at version {version}: {first_line(exc)}") from None


def remove_alias(client: Any, name: str, alias: str) -> None:
    client.delete_registered_model_alias(name, alias)


def tag_version(client: Any, name: str, version: str, key: str, value: str) -> None:
    client.set_model_version_tag(name, version, key, value)


# How long a promotion waits for another one's move of the same alias (held for about a second);
# then it re-reads the alias and, if it moved meanwhile, is refused on the record.
LOCK_WAIT_S = 30.0


@dataclass(frozen=True)
class AliasLock:
    """A registry-wide mutex for one alias: a registered model whose *creation* is the atomic step.

    MLflow has no compare-and-set for aliases. Creating a registered model with a fixed name fails
    if it exists, in every backend, so two promotions cannot both hold the lock; it is deleted when
    the move is recorded. A second promotion waits up to `wait_s` (default `LOCK_WAIT_S`) for it.
    A lock older than `stale_s` (a killed process) is broken.
    """

    client: Any
    name: str
    alias: str
    stale_s: float = 600.0
    wait_s: float | None = None

    @property
    def lock_name(self) -> str:
        return f"mmp-lock.{self.name}.{self.alias}"

    def acquire(self) -> None:
        import time

        client = self.client
        deadline = time.monotonic() + (LOCK_WAIT_S if self.wait_s is None else self.wait_s)
        pause = 0.05
        while True:
            try:
                client.create_registered_model(
                    self.lock_name,
                    tags={"mmp.lock.created": str(time.time())},
                    description="mmp promotion lock",
                )
                return
            except Exception:  # noqa: BLE001 - "already exists" has different types per store
                broken = self._break_if_stale(client)
            if time.monotonic() >= deadline:
                break
            time.sleep(0.01 if broken else pause)  # a stale lock was broken: retry at once
            pause = min(pause * 2, 0.5)
        raise MmpError(
            f"another promotion or rollback of {self.name}@{self.alias} is in progress",
            f"retry when it finishes (or delete the registered model {self.lock_name} if it crashed)",
        )

    def _break_if_stale(self, client: Any) -> bool:
        import time

        try:
            held = client.get_registered_model(self.lock_name)
        except Exception:  # noqa: BLE001 - gone meanwhile: try again
            return True
        created = float(held.tags.get("mmp.lock.created", "0") or 0)
        if time.time() - created < self.stale_s:
            return False
        self.release()
        return True

    def release(self) -> None:
        import contextlib

        with contextlib.suppress(Exception):
            self.client.delete_registered_model(self.lock_name)
