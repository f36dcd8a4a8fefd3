"""The one ASGI layer in front of every route: request id, API keys, body size, timeout, metrics.

Written as plain ASGI (not BaseHTTPMiddleware) because it runs on every request of a millisecond
model. In order: give the request an id (echo a sane `X-Request-ID`, else a new one); refuse a
missing or wrong key with 401 before reading the body; refuse a body over the limit with 413
(checked against Content-Length first, then while reading, so a lying or chunked client is caught
too); run the app under the per-request timeout (504); turn any unexpected exception into a 500 in
the error shape, logged with the request id; finally record latency for Prometheus and /stats.
`/predict` requests are counted in `InFlight` from entry to exit: the micro-batcher compares that
with its queue to know whether the event loop still has work in hand.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from mmp.serving.auth import ApiKeys
from mmp.serving.batcher import InFlight
from mmp.serving.errors import REQUEST_ID_KEY, ApiError, error_body

logger = logging.getLogger("mmp.serving")

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[Message], Any]

VERSION_KEY = "mmp.model_version"
MICRO_BATCHED_ROUTE = "/predict"  # counted in InFlight
_SANE_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


class _BodyTooLarge(Exception):
    pass


class GuardMiddleware:
    """Request id, auth, body limit, timeout, catch-all 500 and request metrics."""

    def __init__(
        self,
        app: Any,
        *,
        keys: ApiKeys,
        max_body_bytes: int,
        timeout_s: float,
        known_routes: frozenset[str],
        record: Callable[[str, str, int, str, float], None],
        current_version: Callable[[], str],
        in_flight: InFlight,
    ) -> None:
        self.app = app
        self.keys = keys
        self.max_body_bytes = max_body_bytes
        self.timeout_s = timeout_s
        self.known_routes = known_routes
        self.record = record
        self.current_version = current_version
        self.in_flight = in_flight

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope.get("headers") or ())
        offered = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = offered if _SANE_ID.match(offered) else uuid.uuid4().hex
        scope[REQUEST_ID_KEY] = request_id
        path = scope.get("path", "")
        counted = path == MICRO_BATCHED_ROUTE and scope.get("method") == "POST"
        if counted:
            self.in_flight.enter()  # the micro-batcher waits while it is read or answered
        status_box = [500]
        started_box = [False]
        id_header = (b"x-request-id", request_id.encode("latin-1"))

        deadline: list[asyncio.Timeout] = []

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                if deadline and not deadline[0].expired():
                    deadline[0].reschedule(None)  # the budget is for producing the response, not sending it
                started_box[0] = True
                status_box[0] = message["status"]
                extra = [id_header]
                version = scope.get(VERSION_KEY)
                if version is not None:
                    extra.append((b"x-model-version", str(version).encode("latin-1")))
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        async def reply(error: ApiError) -> None:
            body = error_body(error, request_id)
            response_headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in error.headers.items()),
            ]
            await send_with_id(
                {"type": "http.response.start", "status": error.status, "headers": response_headers}
            )
            await send_with_id({"type": "http.response.body", "body": body})

        try:
            if self.keys.needed(path) and not self.keys.allows(headers):
                await reply(
                    ApiError(
                        401,
                        "unauthorized",
                        "a valid API key is required: send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'",
                        headers={"WWW-Authenticate": 'Bearer realm="mmp"'},
                    )
                )
                return
            try:
                try:
                    async with asyncio.timeout(self.timeout_s) as budget:
                        deadline.append(budget)
                        body_receive = await self._read_body(scope, headers, receive)
                        await self.app(scope, body_receive, send_with_id)
                finally:
                    deadline.clear()  # error replies below are sent outside the budget
            except _BodyTooLarge:
                await reply(
                    ApiError(413, "payload_too_large", f"the body is larger than {self.max_body_bytes} bytes")
                )
            except TimeoutError:
                if started_box[0]:
                    raise
                await reply(ApiError(504, "timeout", f"the request took longer than {self.timeout_s:g}s"))
        except Exception:
            logger.exception("unexpected error, request_id=%s %s %s", request_id, scope.get("method"), path)
            if not started_box[0]:
                await reply(ApiError(500, "internal_error", f"internal error (request id {request_id})"))
        finally:
            if counted:
                self.in_flight.leave()
            route = path if path in self.known_routes else "(other)"
            version = scope.get(VERSION_KEY) or self.current_version()
            self.record(route, scope.get("method", ""), status_box[0], version, time.perf_counter() - started)

    async def _read_body(self, scope: Scope, headers: dict[bytes, bytes], receive: Receive) -> Receive:
        """Read the whole body (within the limit) and hand the app a receive() that replays it."""
        if scope.get("method") in ("GET", "HEAD", "OPTIONS", "DELETE"):
            return receive
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            raise _BodyTooLarge
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return _replay(b"", receive, message)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise _BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return _replay(b"".join(chunks), receive)


def _replay(body: bytes, receive: Receive, first: Message | None = None) -> Receive:
    sent = [False]

    async def replay() -> Message:
        if first is not None:
            return first
        if not sent[0]:
            sent[0] = True
            return {"type": "http.request", "body": body, "more_body": False}
        message: Message = await receive()
        return message

    return replay
