"""`create_app(settings) -> FastAPI`: the scoring service for one mmp model.

The app starts answering at once: `/health` is 200 and `/ready` is 503 while the model loads in a
background thread. Once the model is loaded and warmed, the model routes (`/predict`,
`/predict/batch`, `/model`) are installed with request models generated from its feature
contract, and `/ready` turns 200. Every worker process builds its own app through `app_from_env`
(uvicorn factory mode), so every worker loads the model.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from mmp.core.model_store import LoadedModel
from mmp.core.yamlio import redact_url
from mmp.serving.auth import ApiKeys
from mmp.serving.batcher import BatcherStopped, MicroBatcher, timed
from mmp.serving.errors import REQUEST_ID_KEY, ApiError, error_body, from_validation_errors, openapi_errors
from mmp.serving.metrics import ServingMetrics
from mmp.serving.middleware import VERSION_KEY, GuardMiddleware
from mmp.serving.prediction_logging import Monitoring
from mmp.serving.runtime import ModelHolder, in_daemon_thread
from mmp.serving.scorer import ServedModel, UnscorableInput, score_isolating, score_rows
from mmp.serving.settings import ServeSettings
from mmp.serving.stats import RollingStats

if TYPE_CHECKING:
    from fastapi import FastAPI, Request, Response

logger = logging.getLogger("mmp.serving")

MODEL_ROUTES = ("/predict", "/predict/batch", "/model", "/labels")
KNOWN_ROUTES = frozenset(
    {*MODEL_ROUTES, "/health", "/ready", "/metrics", "/stats", "/docs", "/openapi.json", "/redoc"}
)
PREDICT_ERRORS = (400, 413, 415, 422, 500, 503, 504)
LABELS_BODY = {
    "type": "object",
    "required": ["labels"],
    "properties": {
        "labels": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["label"],
                "properties": {
                    "request_id": {"type": "string", "description": "X-Request-ID (batch: ID/index)"},
                    "timestamp": {"type": "string", "format": "date-time"},
                    "label": {"description": "A class of the model, or a number (regressors)"},
                },
                "additionalProperties": {"description": "Entity columns, instead of request_id"},
            },
        }
    },
}
STARTUP_FAILURE = 3  # uvicorn's code for "the app could not start": its supervisor then stops


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Pre-serialised JSON: no re-validation of a response we built ourselves (it is hot-path)."""
    from fastapi import Response

    body = json.dumps(payload, ensure_ascii=True, allow_nan=False, default=str).encode()
    return Response(body, status_code=status, media_type="application/json", headers=headers)


class _Service:
    """The per-app state the routes share (no module globals: two apps never mix)."""

    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings
        self.metrics = ServingMetrics(settings.latency_buckets_s)
        self.stats = RollingStats()
        self.holder = ModelHolder(settings, self.metrics)
        self.keys = ApiKeys(settings.keys(), settings.docs_public)
        self.batcher: MicroBatcher | None = None
        self.score = timed(score_rows, self._observe)
        self.score_batch = timed(score_isolating, self._observe)
        self.monitoring = Monitoring(settings.prediction_log, self.metrics)

    def _observe(self, model: ServedModel, kind: str, rows: int, seconds: float) -> None:
        self.metrics.inference.labels(model.loaded.identity.name, model.label, kind).observe(seconds)
        self.metrics.batch_size.labels(kind).observe(rows)

    def record(self, route: str, method: str, status: int, version: str, seconds: float) -> None:
        self.metrics.requests.labels(route, method, str(status), self.model_name(), version).observe(seconds)
        self.stats.record(route, status, seconds)

    def model_name(self) -> str:
        """The served model's name (a reload keeps it: an alias belongs to one registered model)."""
        current = self.holder.current
        return current.loaded.identity.name if current is not None else ""

    def version_label(self) -> str:
        current = self.holder.current
        return current.label if current is not None else ""

    def model(self) -> ServedModel:
        current = self.holder.current
        if current is None:
            raise ApiError(503, "not_ready", "the model is still loading: retry when /ready is 200")
        return current

    async def score_one(self, row: dict[str, Any]) -> tuple[dict[str, Any], ServedModel]:
        if self.batcher is not None:
            return await self.batcher.submit(row)
        import anyio

        model = self.model()
        results = await anyio.to_thread.run_sync(self.score, model, [row], "single", abandon_on_cancel=True)
        return results[0], model

    def failure(self, exc: BaseException, request: Request, field_prefix: tuple[str | int, ...]) -> ApiError:
        """Map a scoring exception to the error to send (and log model bugs with the request id)."""
        if isinstance(exc, ApiError):
            return exc
        if isinstance(exc, UnscorableInput):
            loc = [*field_prefix, exc.index] if exc.index is not None and field_prefix else list(field_prefix)
            fields = [
                {
                    "field": ".".join(str(p) for p in loc) or "(body)",
                    "loc": loc,
                    "message": str(exc),
                    "type": "unscorable_input",
                }
            ]
            return ApiError(422, "unscorable_input", f"the model cannot score this input: {exc}", fields)
        if isinstance(exc, BatcherStopped):
            return ApiError(503, "shutting_down", "the server is shutting down: retry on another instance")
        request_id = request.scope.get(REQUEST_ID_KEY, "-")
        logger.error("model failure, request_id=%s", request_id, exc_info=exc)
        return ApiError(
            500,
            "model_error",
            "the model failed to score this request; the server log has the details "
            f"(request id {request_id})",
        )


def create_app(
    settings: ServeSettings,
    loaded: LoadedModel | None = None,
    on_load_failure: Callable[[str], None] | None = None,
) -> FastAPI:
    """The scoring app. Pass `loaded` to serve a model already in memory (it is warmed here);
    otherwise the model at `settings.model_uri` is loaded in the background after startup.
    `on_load_failure(message)` is called if that load fails (the CLI stops the server with it)."""
    from fastapi import FastAPI

    from mmp import __version__

    service = _Service(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tasks: list[asyncio.Task[None]] = []
        service.monitoring.start()
        if settings.micro_batching:
            service.batcher = MicroBatcher(
                lambda: service.holder.current,
                service.score,
                settings.micro_batch_max_size,
                settings.micro_batch_max_wait_ms / 1000,
            )
            service.batcher.start()
        if service.holder.current is None:
            tasks.append(asyncio.create_task(_load_then_install(app, service, on_load_failure)))
        else:
            tasks.extend(_follow(service))
        app.state.background = tasks
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if service.batcher is not None:
                await service.batcher.stop()
                service.batcher = None
            await asyncio.to_thread(service.monitoring.close)

    app = FastAPI(
        title="mmp model server",
        version=str(__version__),
        description="Loading the model...",
        lifespan=lifespan,
    )
    app.state.service = service
    _install_error_handlers(app, service)
    _install_service_routes(app, service)
    _install_placeholders(app)
    app.add_middleware(
        GuardMiddleware,
        keys=service.keys,
        max_body_bytes=settings.max_body_bytes,
        timeout_s=settings.request_timeout_s,
        known_routes=KNOWN_ROUTES,
        record=service.record,
        current_version=service.version_label,
    )
    _install_openapi(app, service)
    if loaded is not None:
        served = service.holder.adopt(loaded)
        _install_model_routes(app, service, served)
    return app


def _follow(service: _Service) -> list[asyncio.Task[None]]:
    holder = service.holder
    if holder.follows_alias and service.settings.reload_interval_s > 0:
        return [asyncio.create_task(holder.follow_alias(), name="mmp-alias-poll")]
    return []


async def _load_then_install(
    app: FastAPI, service: _Service, on_load_failure: Callable[[str], None] | None
) -> None:
    try:
        served = await in_daemon_thread(service.holder.load_initial)
    except Exception:  # noqa: BLE001 - recorded on the holder; /ready reports it
        message = service.holder.error or "unknown error"
        logger.error("cannot serve %s: %s", redact_url(service.settings.model_uri), message)
        if on_load_failure is not None:
            on_load_failure(message)
        return
    _install_model_routes(app, service, served)
    app.state.background.extend(_follow(service))


def _error_response(error: ApiError, request: Request) -> Response:
    from fastapi import Response

    body = error_body(error, request.scope.get(REQUEST_ID_KEY, "-"))
    return Response(body, status_code=error.status, media_type="application/json", headers=error.headers)


def _install_error_handlers(app: FastAPI, service: _Service) -> None:
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    async def on_api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return _error_response(exc, request)

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        current = service.holder.current
        contract = current.loaded.contract if current is not None else None
        error = from_validation_errors(
            list(exc.errors()),
            contract.target_column if contract else None,
            request.headers.get("content-type"),
        )
        known = {c.name for c in contract.columns} if contract else set()
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


def _install_service_routes(app: FastAPI, service: _Service) -> None:
    from fastapi import Response

    protected = openapi_errors(401) if service.keys.enabled else {}

    @app.get("/health", tags=["operations"], summary="Liveness: the process answers (always cheap)")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "pid": os.getpid()}

    @app.get(
        "/ready",
        tags=["operations"],
        summary="Readiness: 200 once the model is loaded and warmed, 503 before",
        responses=openapi_errors(503),
        response_model=None,
    )
    async def ready() -> Response:
        current = service.holder.current
        if current is None:
            if service.holder.state == "failed":
                raise ApiError(
                    503, "model_load_failed", f"the model could not be loaded: {service.holder.error}"
                )
            raise ApiError(503, "not_ready", "the model is still loading")
        return json_response({"status": "ready", "model": current.ref(), "pid": os.getpid()})

    @app.get(
        "/metrics",
        tags=["operations"],
        summary="Prometheus metrics",
        responses={200: {"content": {"text/plain": {}}}, **protected},
        response_class=Response,
        response_model=None,
    )
    async def metrics() -> Response:
        body, content_type = service.metrics.render()
        return Response(body, media_type=content_type)

    @app.get(
        "/stats",
        tags=["operations"],
        summary="Latency p50/p95/p99 and request counts over the last 1, 5 and 15 minutes (this worker)",
        responses=protected,
    )
    async def stats() -> dict[str, Any]:
        current = service.holder.current
        return {
            "pid": os.getpid(),
            "model": current.ref() if current is not None else None,
            **service.stats.snapshot(),
        }


def _install_placeholders(app: FastAPI) -> None:
    """Until the model is loaded, its routes answer 503 instead of 404."""

    async def loading() -> Response:
        raise ApiError(503, "not_ready", "the model is still loading: retry when /ready is 200")

    for path in MODEL_ROUTES:
        methods = ["GET"] if path == "/model" else ["POST"]
        app.add_api_route(
            path,
            loading,
            methods=methods,
            include_in_schema=False,
            name=f"loading:{path}",
            response_model=None,
        )


def _install_model_routes(app: FastAPI, service: _Service, served: ServedModel) -> None:
    """Replace the placeholders with the routes typed by this model's contract."""
    from fastapi import Request, Response
    from fastapi.routing import APIRoute

    schemas = served.schemas
    contract = served.loaded.contract
    classifier = contract.task == "classification"
    protected = (401,) if service.keys.enabled else ()
    limits = service.settings

    async def predict(request: Request, record: Any) -> Response:
        started = time.perf_counter()
        row = schemas.row(record)
        try:
            result, model = await service.score_one(row)
        except Exception as exc:  # noqa: BLE001 - mapped to the error shape
            raise service.failure(exc, request, ()) from None
        request.scope[VERSION_KEY] = model.label
        service.monitoring.scored(
            request.scope.get(REQUEST_ID_KEY, "-"),
            model,
            [row],
            [result],
            time.perf_counter() - started,
            False,
        )
        service.metrics.count_predictions(model.label, [result], classifier)
        return json_response({**result, "model": model.ref()})

    async def predict_batch(request: Request, batch: Any) -> Response:
        import anyio

        started = time.perf_counter()
        model = service.model()
        rows = [schemas.row(record) for record in batch.records]
        try:
            results = await anyio.to_thread.run_sync(
                service.score_batch, model, rows, "batch", abandon_on_cancel=True
            )
        except Exception as exc:  # noqa: BLE001 - mapped to the error shape
            raise service.failure(exc, request, ("records",)) from None
        request.scope[VERSION_KEY] = model.label
        service.monitoring.scored(
            request.scope.get(REQUEST_ID_KEY, "-"), model, rows, results, time.perf_counter() - started, True
        )
        service.metrics.count_predictions(model.label, results, classifier)
        return json_response({"predictions": results, "model": model.ref()})

    async def model_info(request: Request) -> Response:
        model = service.model()
        request.scope[VERSION_KEY] = model.label
        ident = model.loaded.identity
        return json_response(
            {
                "name": ident.name,
                "version": ident.version,
                "run_id": ident.run_id,
                "model_uri": redact_url(ident.model_uri),
                "resolved_uri": redact_url(ident.resolved_uri),
                "task": ident.task,
                "trained_at": ident.trained_at,
                "loaded_at": model.loaded_at,
                "metrics": ident.metrics,
                "follows_alias": service.holder.follows_alias,
                "reload_interval_s": limits.reload_interval_s if service.holder.follows_alias else None,
                "limits": {
                    "max_batch_records": limits.max_batch_records,
                    "max_body_bytes": limits.max_body_bytes,
                    "request_timeout_s": limits.request_timeout_s,
                },
                "micro_batching": {
                    "enabled": limits.micro_batching,
                    "max_size": limits.micro_batch_max_size,
                    "max_wait_ms": limits.micro_batch_max_wait_ms,
                },
                "contract": contract.model_dump(mode="json"),
            }
        )

    async def labels(request: Request) -> Response:
        import anyio

        model = service.model()
        request.scope[VERSION_KEY] = model.label
        try:
            body = json.loads(await request.body())
        except ValueError:
            raise ApiError(400, "invalid_json", "the body is not valid JSON") from None
        accepted = await anyio.to_thread.run_sync(service.monitoring.accept_labels, model, body)
        return json_response({"accepted": accepted})

    # Real types for FastAPI (this module uses postponed annotations).
    predict.__annotations__ = {"request": Request, "record": schemas.record, "return": Response}
    predict_batch.__annotations__ = {"request": Request, "batch": schemas.batch, "return": Response}
    model_info.__annotations__ = {"request": Request, "return": Response}
    labels.__annotations__ = {"request": Request, "return": Response}

    app.router.routes[:] = [
        r for r in app.router.routes if not (isinstance(r, APIRoute) and r.name.startswith("loading:"))
    ]
    app.add_api_route(
        "/predict",
        predict,
        methods=["POST"],
        response_model=schemas.response,
        responses=openapi_errors(*sorted({*PREDICT_ERRORS, *protected})),
        tags=["predictions"],
        summary="Score one record",
        description="Scores one record. Concurrent requests are grouped into one model call "
        "(micro-batching). The response names the model version that answered (also in X-Model-Version).",
    )
    app.add_api_route(
        "/predict/batch",
        predict_batch,
        methods=["POST"],
        response_model=schemas.batch_response,
        responses=openapi_errors(*sorted({*PREDICT_ERRORS, *protected})),
        tags=["predictions"],
        summary=f"Score up to {limits.max_batch_records} records in one call",
        description="One prediction per record, in request order. More records than the limit is a 413.",
    )
    app.add_api_route(
        "/model",
        model_info,
        methods=["GET"],
        responses=openapi_errors(*protected),
        response_model=None,
        tags=["operations"],
        summary="The served model: name, version, run id, task, metrics, trained-at, feature contract",
    )
    app.add_api_route(
        "/labels",
        labels,
        methods=["POST"],
        responses=openapi_errors(*sorted({400, 409, 413, 422, 503, *protected})),
        response_model=None,
        tags=["monitoring"],
        openapi_extra={
            "requestBody": {"required": True, "content": {"application/json": {"schema": LABELS_BODY}}}
        },
        summary="Send ground truth for served predictions (appended to the labels log)",
        description='Body: `{"labels": [{"request_id": "...", "label": ...}]}`, or entity columns '
        "(+ `timestamp`) instead of `request_id`. Records of `/predict/batch` have the id "
        "`<X-Request-ID>/<index>`. Labels must fit the model's target (a known class, or a number); "
        "needs `serving.prediction_log` enabled (409 otherwise). `mmp monitor --labels` joins them.",
    )
    ident = served.loaded.identity
    app.title = f"mmp · {ident.name}"
    app.description = (
        f"Scores the **{contract.name}** {contract.task} model. Request bodies are generated from the "
        "model's feature contract: unknown columns, the target column, wrong types and nulls where "
        "training saw none are rejected with a 422 naming the field. Every error has the same shape "
        "(`ErrorResponse`) and carries the request id."
    )
    app.openapi_schema = None


def _install_openapi(app: FastAPI, service: _Service) -> None:
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

    return create_app(settings, on_load_failure=stop_worker)
