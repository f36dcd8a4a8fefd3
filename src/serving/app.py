"""`create_app(settings) -> FastAPI`: the scoring service for one mmp model.

The app is declared once: the model's card (contract and identity, read from its MLmodel metadata,
small) gives the typed routes, so `/predict`, `/predict/batch` and `/model` exist from the start.
Only the pipeline loads in the background: `/health` is 200 at once, `/ready` and the model routes
answer 503 until the pipeline is loaded and warmed. What changes at run time (the served version,
after a hot reload) lives in the `Service` the routes read, never in the route table. Every worker
process builds its own app through `app_from_env` (uvicorn factory mode).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from mmp.core.errors import MmpError
from mmp.core.model_store import LoadedModel, ModelCard
from mmp.core.yamlio import redact_url
from mmp.serving.errors import REQUEST_ID_KEY, ApiError, error_body, from_validation_errors
from mmp.serving.metrics import ServingMetrics
from mmp.serving.middleware import GuardMiddleware
from mmp.serving.runtime import ModelHolder, in_daemon_thread
from mmp.serving.schema import build_schemas
from mmp.serving.service import Service
from mmp.serving.settings import ServeSettings

if TYPE_CHECKING:
    from fastapi import FastAPI, Request, Response

logger = logging.getLogger("mmp.serving")

KNOWN_ROUTES = frozenset(
    {"/predict", "/predict/batch", "/model", "/labels", "/health", "/ready", "/metrics", "/stats",
     "/docs", "/openapi.json", "/redoc"}
)  # fmt: skip
STARTUP_FAILURE = 3  # uvicorn's code for "the app could not start": its supervisor then stops


def create_app(
    settings: ServeSettings,
    loaded: LoadedModel | None = None,
    on_load_failure: Callable[[str], None] | None = None,
) -> FastAPI:
    """The scoring app. Pass `loaded` to serve a model already in memory (it is warmed here);
    otherwise the model's card is read now (raising `MmpError` if there is no such model) and its
    pipeline is loaded in the background after startup. `on_load_failure(message)` is called if
    that load fails (the CLI stops the server with it)."""
    from fastapi import FastAPI

    from mmp import __version__
    from mmp.serving.routes import model_router, monitoring_router, operations_router

    holder = ModelHolder(settings, ServingMetrics(settings.latency_buckets_s))
    card = _card(loaded) if loaded is not None else holder.read_card()
    schemas = build_schemas(card.contract, card.input_example, settings.max_batch_records)
    holder.signature = schemas.signature
    service = Service(settings, card, schemas, holder)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service.monitoring.start()  # the prediction log, when enabled (each worker its own files)
        service.start_batching()
        tasks: list[asyncio.Task[None]] = []
        if service.shared is not None:
            tasks.append(asyncio.create_task(service.shared.publish_forever(), name="mmp-stats"))
        if holder.current is None:
            tasks.append(asyncio.create_task(_load_then_follow(service, tasks, on_load_failure)))
        else:
            tasks.extend(_follow(service))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await service.stop_batching()
            await asyncio.to_thread(service.monitoring.close)  # flush: a clean shutdown loses nothing

    contract = card.contract
    app = FastAPI(
        title=f"mmp · {card.identity.name}",
        version=str(__version__),
        description=(
            f"Scores the **{contract.name}** {contract.task} model. Request bodies are generated from the "
            "model's feature contract: unknown columns, the target column, wrong types and nulls where "
            "training saw none are rejected with a 422 naming the field. Every error has the same shape "
            "(`ErrorResponse`) and carries the request id."
        ),
        lifespan=lifespan,
    )
    app.state.service = service
    _install_error_handlers(app, service)
    app.include_router(operations_router(service))
    app.include_router(model_router(service))
    app.include_router(monitoring_router(service))
    app.add_middleware(
        GuardMiddleware,
        keys=service.keys,
        max_body_bytes=settings.max_body_bytes,
        timeout_s=settings.request_timeout_s,
        known_routes=KNOWN_ROUTES,
        record=service.record,
        current_version=service.version_label,
        in_flight=service.in_flight,
    )
    _install_openapi(app, service)
    if loaded is not None:
        holder.adopt(loaded)
    return app


def _card(loaded: LoadedModel) -> ModelCard:
    return ModelCard(loaded.contract, loaded.identity, loaded.input_example)


def _follow(service: Service) -> list[asyncio.Task[None]]:
    holder = service.holder
    if holder.follows_alias and service.settings.reload_interval_s > 0:
        return [asyncio.create_task(holder.follow_alias(), name="mmp-alias-poll")]
    return []


async def _load_then_follow(
    service: Service, tasks: list[asyncio.Task[None]], on_load_failure: Callable[[str], None] | None
) -> None:
    try:
        await in_daemon_thread(service.holder.load_initial)
    except Exception:  # noqa: BLE001 - recorded on the holder; /ready reports it
        message = service.holder.error or "unknown error"
        logger.error("cannot serve %s: %s", redact_url(service.settings.model_uri), message)
        if on_load_failure is not None:
            on_load_failure(message)
        return
    if service.readiness is not None:
        service.readiness.mark_ready()
    tasks.extend(_follow(service))


def _error_response(error: ApiError, request: Request) -> Response:
    from fastapi import Response

    body = error_body(error, request.scope.get(REQUEST_ID_KEY, "-"))
    return Response(body, status_code=error.status, media_type="application/json", headers=error.headers)


def _install_error_handlers(app: FastAPI, service: Service) -> None:
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    async def on_api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return _error_response(exc, request)

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        contract = service.card.contract
        error = from_validation_errors(
            list(exc.errors()), contract.target_column, request.headers.get("content-type")
        )
        known = {c.name for c in contract.columns}
        for entry in error.fields:
            names = [p for p in entry["loc"] if isinstance(p, str) and p != "records"]
            column = names[-1] if names else "(body)"
            service.metrics.validation_failures.labels(column if column in known else "(unknown)").inc()
        if not error.fields:
            service.metrics.validation_failures.labels("(body)").inc()
        return _error_response(error, request)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        codes = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
        code = codes.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else "HTTP error"
        if exc.status_code == 404:
            message = f"no route {request.url.path}: see /docs"
        return _error_response(
            ApiError(exc.status_code, code, message, headers=dict(exc.headers or {})), request
        )

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(HTTPException, on_http_error)


def _install_openapi(app: FastAPI, service: Service) -> None:
    """Add the API-key security schemes to the generated schema when keys are configured."""
    from fastapi.openapi.utils import get_openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        if service.keys.enabled:
            components = schema.setdefault("components", {})
            components["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer KEY"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            }
            for path, operations in schema.get("paths", {}).items():
                if service.keys.needed(path):
                    for operation in operations.values():
                        operation["security"] = [{"bearer": []}, {"apiKey": []}]
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def app_from_env() -> FastAPI:
    """uvicorn factory for worker processes: settings from MMP_SERVE_SETTINGS, keys from their env var."""
    from mmp.serving.settings import ServeSettings

    settings = ServeSettings.from_env()

    def stop_worker(message: str) -> None:
        fatal = settings.fatal_file()
        if fatal is not None:
            fatal.write_text(message, encoding="utf-8")
        logging.shutdown()
        os._exit(STARTUP_FAILURE)

    try:
        return create_app(settings, on_load_failure=stop_worker)
    except MmpError as exc:
        stop_worker(str(exc))
        raise  # not reached: stop_worker exits
