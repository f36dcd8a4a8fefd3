"""The model being served: its card, first load, warm-up, and hot reload of a registry alias.

`read_card` resolves the URI once and reads the model's metadata (contract, identity), so the app
can declare its typed routes before the pipeline is there; `load_initial` then loads exactly that
version in the background. `current` is replaced by one assignment, never mutated, so a request
that picked up a model keeps it to the end while new requests see the new one. A version that
fails to load, fails its warm-up or changes the request schema is logged and skipped; the old
version keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Literal, TypeVar

from mmp.core.errors import MmpError
from mmp.core.heap import freeze_long_lived
from mmp.core.model_ref import ModelRef, ResolvedModel
from mmp.core.model_store import LoadedModel, ModelCard, load_model, read_card
from mmp.core.tracking import TrackingStore
from mmp.core.yamlio import redact_url
from mmp.serving.metrics import ServingMetrics
from mmp.serving.scorer import ServedModel, serve_model, warm_up
from mmp.serving.settings import ServeSettings

logger = logging.getLogger("mmp.serving")

MAX_RETRY_S = 600.0

T = TypeVar("T")
State = Literal["loading", "ready", "failed"]
ReloadOutcome = Literal["unchanged", "reloaded", "failed", "skipped", "unresolved"]


def describe_error(exc: BaseException) -> str:
    if isinstance(exc, MmpError):
        return str(exc)
    return f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0]}"


class ModelHolder:
    """Loads the model once, serves `current`, and follows a registry alias when asked to."""

    def __init__(self, settings: ServeSettings, metrics: ServingMetrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.current: ServedModel | None = None
        self.card: ModelCard | None = None
        self.signature: tuple[object, ...] | None = None  # the declared request schema's
        self.state: State = "loading"
        self.error: str | None = None
        self._failed: dict[str, tuple[int, float]] = {}  # version -> (failures, retry after)
        self.ref = ModelRef.parse(settings.model_uri)
        self.store = TrackingStore.resolve(settings.tracking_uri, settings.registry_uri)

    @property
    def follows_alias(self) -> bool:
        """True for `models:/NAME@ALIAS` and `models:/NAME/latest`: both can move to a new version."""
        return self.ref.follows

    def _resolve(self) -> ResolvedModel:
        """The exact model the served URI points at now (one registry call for an alias or latest)."""
        return self.ref.resolve(self.store)

    def _load(self, resolved: ResolvedModel) -> LoadedModel:
        """Load a pinned model; its identity keeps the URI the user asked for (an alias or `latest`)."""
        return load_model(resolved, self.store)

    def _prepare(self, loaded: LoadedModel) -> ServedModel:
        served = serve_model(loaded)
        warm_up(served)
        return served

    def read_card(self) -> ModelCard:
        """Resolve the URI (an alias or `latest` is pinned to its version now) and read the model's
        card; the background load then loads exactly this version."""
        try:
            self.card = read_card(self._resolve(), self.store)
        except BaseException as exc:
            self.state, self.error = "failed", describe_error(exc)
            raise
        return self.card

    def adopt(self, loaded: LoadedModel) -> ServedModel:
        """Serve an already loaded model (warmed here)."""
        served = self._prepare(loaded)
        self._swap(served, event="load")
        return served

    def load_initial(self) -> ServedModel:
        """Load, warm and publish the model; on failure record the error and re-raise it."""
        started = time.perf_counter()
        try:
            card = self.card if self.card is not None else self.read_card()
            assert card.resolved is not None
            served = self._prepare(self._load(card.resolved))
        except BaseException as exc:
            self.state, self.error = "failed", describe_error(exc)
            self.metrics.model_events.labels("load_failed", "").inc()
            raise
        self._swap(served, event="load")
        ident = served.loaded.identity
        logger.info(
            "serving %s version %s (run %s) from %s, loaded and warmed in %.2fs",
            ident.name,
            ident.version or "-",
            ident.run_id or "-",
            redact_url(ident.model_uri),
            time.perf_counter() - started,
        )
        return served

    def _swap(self, served: ServedModel, event: str) -> None:
        if self.signature is None:  # a holder used without an app: the first model sets the schema
            self.signature = signature_of(served, self.settings)
        old = self.current
        self.current = served
        self.state, self.error = "ready", None
        if old is not None:
            o = old.loaded.identity
            self.metrics.model_info.labels(o.name, o.version or "", o.run_id or "").set(0)
        n = served.loaded.identity
        self.metrics.model_info.labels(n.name, n.version or "", n.run_id or "").set(1)
        self.metrics.model_events.labels(event, served.label).inc()
        # Once nothing here holds the replaced model, a reload's collection can free it.
        del old
        freeze_long_lived(collect=event == "reload")

    def check_for_update(self) -> ReloadOutcome:
        """One poll of the alias: load, warm and swap in the version it points to now, if new."""
        if self.current is None or not self.follows_alias:
            return "unchanged"
        # Only the version: a reference to the current model would keep it alive past the swap.
        serving = self.current.loaded.identity.version
        try:
            resolved = self._resolve()
            version = resolved.version
        except Exception as exc:  # noqa: BLE001 - a registry hiccup must never stop serving
            logger.warning("cannot resolve %s: %s", self.settings.model_uri, describe_error(exc))
            return "unresolved"
        if version is None or version == serving:
            return "unchanged"
        failures, retry_after = self._failed.get(version, (0, 0.0))
        if time.monotonic() < retry_after:
            return "skipped"
        try:
            served = self._prepare(self._load(resolved))
            if self.signature is not None and signature_of(served, self.settings) != self.signature:
                raise MmpError(
                    "its request schema differs from the one being served",
                    "restart mmp serve-api to serve a model with different columns, types or classes",
                )
        except Exception as exc:
            failures += 1
            wait = min(MAX_RETRY_S, max(self.settings.reload_interval_s, 1.0) * 2**failures)
            self._failed[version] = (failures, time.monotonic() + wait)
            self.metrics.model_events.labels("reload_failed", version).inc()
            logger.error(
                "not switching %s to version %s: %s; version %s keeps serving (retry in %.0fs)",
                self.settings.model_uri,
                version,
                describe_error(exc),
                serving,
                wait,
                exc_info=not isinstance(exc, MmpError),
            )
            return "failed"
        self._failed.pop(version, None)
        self._swap(served, event="reload")
        logger.info(
            "%s now serves version %s (was %s)",
            self.settings.model_uri,
            version,
            serving,
        )
        return "reloaded"

    async def follow_alias(self) -> None:
        """Poll the alias every `reload_interval_s` until cancelled (loading runs in a thread)."""
        while True:
            await asyncio.sleep(self.settings.reload_interval_s)
            await in_daemon_thread(self.check_for_update)


def signature_of(served: ServedModel, settings: ServeSettings) -> tuple[object, ...]:
    """The request schema a model's contract makes (to compare it with the declared one)."""
    from mmp.serving.schema import build_schemas

    return build_schemas(served.loaded.contract, None, settings.max_batch_records).signature


async def in_daemon_thread(fn: Callable[[], T]) -> T:
    """Run a blocking call (a model download can take minutes) in a daemon thread, so stopping the
    server never waits for it; the result is dropped if nobody awaits it any more."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def deliver(setter: Callable[[], None]) -> None:
        if not future.done():
            setter()

    def run() -> None:
        try:
            result = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
            error = exc
            with contextlib.suppress(RuntimeError):  # the loop may be closed by now
                loop.call_soon_threadsafe(deliver, lambda: future.set_exception(error))
        else:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(deliver, lambda: future.set_result(result))

    threading.Thread(target=run, name="mmp-model-load", daemon=True).start()
    return await future
