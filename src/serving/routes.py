"""Every route of the scoring app, declared once when the app is created.

The request and response models come from the model card's contract (`Schemas`), read before the
pipeline is loaded, so `/predict` and `/predict/batch` are typed from the start: FastAPI builds the
OpenAPI document, `/docs` and the 422s from them. Until the pipeline is loaded the model routes
answer 503 (`Service.model`); after a hot reload they answer with the new version, read from the
service on every request.

This module deliberately does not use postponed annotations: the endpoint parameter types are
the generated models, which are local values.
"""

import json
import os
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import pydantic_core
from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute

from mmp.core.yamlio import redact_url
from mmp.serving.columns import BatchReader, Columns
from mmp.serving.errors import REQUEST_ID_KEY, ApiError, openapi_errors
from mmp.serving.middleware import VERSION_KEY
from mmp.serving.service import Service

PREDICT_ERRORS = (400, 413, 415, 422, 500, 503, 504)


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Pre-serialised JSON: no re-validation of a response we built ourselves (it is hot-path).
    pydantic-core's serializer writes 1000 predictions ~4x faster than `json.dumps`; text it cannot
    encode as UTF-8 (an echoed lone surrogate) goes through `json.dumps`, which escapes it."""
    try:
        body = pydantic_core.to_json(payload, fallback=str, inf_nan_mode="null")
    except pydantic_core.PydanticSerializationError:
        body = json.dumps(payload, ensure_ascii=True, allow_nan=False, default=str).encode()
    return Response(body, status_code=status, media_type="application/json", headers=headers)


class _JsonRequest(Request):
    """Parses JSON bodies with pydantic-core (the same values as `json.loads`, about twice as fast
    on a 1000-record body); a malformed body is re-read by `json.loads`, so FastAPI reports the
    same error, with its position, as before."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = pydantic_core.from_json(body)
            except ValueError:
                self._json = json.loads(body)  # raises the JSONDecodeError FastAPI reports
        return self._json


class JsonRoute(APIRoute):
    """An `APIRoute` whose handler reads the body through `_JsonRequest`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            return await handler(_JsonRequest(request.scope, request.receive))

        return handle


def fast_route(fast: Callable[[Request], Awaitable[Response | None]]) -> type[APIRoute]:
    """A route that first offers the request to `fast`, and runs FastAPI's own handler (body
    validation by the declared model, then the endpoint) only when `fast` returns None. The
    declared endpoint still makes the route's OpenAPI, so the documented schema does not change."""

    class FastRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def handle(request: Request) -> Response:
                request = _JsonRequest(request.scope, request.receive)
                response = await fast(request)
                return response if response is not None else await handler(request)

            return handle

    return FastRoute


def operations_router(service: Service) -> APIRouter:
    """/health, /ready, /metrics and /stats."""
    router = APIRouter(tags=["operations"])
    protected = openapi_errors(401) if service.keys.enabled else {}

    @router.get("/health", summary="Liveness: the process answers (always cheap)")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "pid": os.getpid()}

    @router.get(
        "/ready",
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
        readiness = service.readiness
        if readiness is not None and not readiness.all_ready():
            raise ApiError(
                503,
                "not_ready",
                f"{readiness.ready_workers()} of {readiness.workers} workers have loaded the model",
            )
        return json_response({"status": "ready", "model": current.ref(), "pid": os.getpid()})

    @router.get(
        "/metrics",
        summary="Prometheus metrics",
        responses={200: {"content": {"text/plain": {}}}, **protected},
        response_class=Response,
        response_model=None,
    )
    async def metrics() -> Response:
        body, content_type = service.metrics.render()
        return Response(body, media_type=content_type)

    @router.get(
        "/stats",
        summary="Latency p50/p95/p99 and request counts over the last 1, 5 and 15 minutes (all workers)",
        responses=protected,
    )
    async def stats() -> dict[str, Any]:
        current = service.holder.current
        return {
            "pid": os.getpid(),
            "model": current.ref() if current is not None else None,
            **service.stats_snapshot(),
        }

    return router


def model_router(service: Service) -> APIRouter:
    """/predict, /predict/batch and /model, typed by the declared schemas."""
    schemas = service.schemas
    limits = service.settings
    protected = (401,) if service.keys.enabled else ()
    errors = openapi_errors(*sorted({*PREDICT_ERRORS, *protected}))
    Record = schemas.record
    Batch = schemas.batch
    router = APIRouter(route_class=JsonRoute)

    @router.post(
        "/predict",
        response_model=schemas.response,
        responses=errors,
        tags=["predictions"],
        summary="Score one record",
        description="Scores one record. Concurrent requests are grouped into one model call "
        "(micro-batching). The response names the model version that answered (also in X-Model-Version).",
    )
    async def predict(request: Request, record: Record) -> Response:  # type: ignore[valid-type]
        started = time.perf_counter()
        row = schemas.row(record)
        try:
            result, model = await service.score_one(row)
        except Exception as exc:  # noqa: BLE001 - mapped to the error shape
            raise service.failure(exc, request, ()) from None
        request.scope[VERSION_KEY] = model.label
        service.scored(model, [result], [row], request.scope.get(REQUEST_ID_KEY, "-"), started)
        return json_response({**result, "model": model.ref()})

    reader = BatchReader(service.card.contract, limits.max_batch_records)

    async def score_batch(request: Request, columns: Columns, started: float) -> Response:
        try:
            results, model = await service.score_many(columns)
        except Exception as exc:  # noqa: BLE001 - mapped to the error shape
            raise service.failure(exc, request, ("records",)) from None
        request.scope[VERSION_KEY] = model.label
        rows = columns.rows() if service.monitoring.enabled else None
        service.scored(model, results, rows, request.scope.get(REQUEST_ID_KEY, "-"), started, batch=True)
        return json_response({"predictions": results, "model": model.ref()})

    async def read_batch(request: Request) -> Response | None:
        """The fast path (`columns.BatchReader`): None sends the request to `predict_batch` below."""
        started = time.perf_counter()
        content_type = request.headers.get("content-type", "")
        if not content_type.startswith("application/json"):
            return None
        try:
            payload = await request.json()
        except ValueError:
            return None
        columns = reader.read(payload)
        if columns is None:
            return None
        return await score_batch(request, columns, started)

    async def predict_batch(request: Request, batch: Batch) -> Response:  # type: ignore[valid-type]
        """Bodies the fast path did not take: validated record by record by the generated model (the
        422 names every refused field), then scored the same way."""
        started = time.perf_counter()
        records: list[Any] = batch.records  # type: ignore[attr-defined]
        columns = Columns.from_rows(reader.names, [schemas.row(record) for record in records])
        return await score_batch(request, columns, started)

    router.add_api_route(
        "/predict/batch",
        predict_batch,
        methods=["POST"],
        response_model=schemas.batch_response,
        responses=errors,
        tags=["predictions"],
        summary=f"Score up to {limits.max_batch_records} records in one call",
        description="One prediction per record, in request order. More records than the limit is a 413.",
        route_class_override=fast_route(read_batch),
    )

    @router.get(
        "/model",
        responses=openapi_errors(*protected),
        response_model=None,
        tags=["operations"],
        summary="The served model: name, version, run id, task, metrics, trained-at, feature contract",
    )
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
                "contract": model.loaded.contract.model_dump(mode="json"),
            }
        )

    return router


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


def monitoring_router(service: Service) -> APIRouter:
    """POST /labels: ground truth for served predictions (mmp.serving.prediction_logging)."""
    protected = (401,) if service.keys.enabled else ()
    router = APIRouter()

    @router.post(
        "/labels",
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

    return router
