"""One JSON shape for every error: `{"error": {code, message, request_id, fields}}`.

Parse errors, schema violations, auth, size limits, timeouts and model failures all leave through
here, with the field path when there is one and the request id that is also in `X-Request-ID`.
Nothing a client receives ever contains a traceback, a key or the offending input value.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from mmp.serving.schema import ErrorResponse

logger = logging.getLogger("mmp.serving")

REQUEST_ID_KEY = "mmp.request_id"

STATUS_TEXT = {
    400: "Bad request (the body is not JSON, or is empty).",
    401: "Missing or wrong API key.",
    404: "No such path.",
    405: "Method not allowed on this path.",
    413: "The body or the number of records is over the limit.",
    415: "The body is not sent as application/json.",
    422: "The JSON does not match the model's contract; `fields` names each problem.",
    500: "The model failed; the message is safe to show and the server log has the details.",
    503: "The model is not loaded yet.",
    504: "The request took longer than the server's per-request timeout.",
}


class ApiError(Exception):
    """An error response to send: HTTP status, stable code, message and invalid fields."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        fields: Sequence[dict[str, Any]] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = list(fields)
        self.headers = headers or {}


def error_body(error: ApiError, request_id: str) -> bytes:
    payload = {
        "error": {
            "code": error.code,
            "message": error.message,
            "request_id": request_id,
            "fields": error.fields,
        }
    }
    return json.dumps(payload, ensure_ascii=True, default=str).encode()


def field_entry(loc: Iterable[Any], message: str, kind: str) -> dict[str, Any]:
    parts = list(loc)
    return {
        "field": ".".join(str(p) for p in parts) or "(body)",
        "loc": parts,
        "message": message,
        "type": kind,
    }


def from_validation_errors(
    errors: Sequence[dict[str, Any]], target: str | None, content_type: str | None
) -> ApiError:
    """Translate pydantic/FastAPI request errors into one ApiError with the right status."""
    # FastAPI reports locations as ("body", ...); clients think in body paths.
    first = errors[0] if errors else {}
    loc0 = tuple(first.get("loc", ()))
    if first.get("type") == "json_invalid":
        detail = (first.get("ctx") or {}).get("error", "invalid JSON")
        position = loc0[1] if len(loc0) > 1 else "?"
        return ApiError(400, "invalid_json", f"the body is not valid JSON: {detail} at character {position}")
    if loc0 == ("body",) and first.get("type") == "missing":
        return ApiError(400, "empty_body", "the request body is empty: send a JSON object")
    if loc0 == ("body",) and isinstance(first.get("input"), bytes | bytearray):
        return ApiError(
            415,
            "unsupported_media_type",
            f"send the body as JSON with 'Content-Type: application/json' (got {content_type or 'none'})",
        )
    for error in errors:
        loc = tuple(error.get("loc", ()))
        if error.get("type") == "too_long" and loc[-1:] == ("records",):
            limit = (error.get("ctx") or {}).get("max_length")
            return ApiError(413, "too_many_records", f"too many records: at most {limit} per request")
    fields = [_field(error, target) for error in errors]
    names = ", ".join(dict.fromkeys(f["field"] for f in fields))
    noun = "field is" if len(fields) == 1 else "fields are"
    return ApiError(422, "validation_error", f"{len(fields)} {noun} invalid: {names}", fields)


def _field(error: dict[str, Any], target: str | None) -> dict[str, Any]:
    loc = [p for p in error.get("loc", ()) if p != "body"]
    kind = str(error.get("type", "invalid"))
    message = str(error.get("msg", "invalid value"))
    name = loc[-1] if loc else None
    if kind == "extra_forbidden":
        if target is not None and name == target:
            message = f"'{target}' is the target column the model predicts: do not send it"
            kind = "target_not_allowed"
        else:
            message = "unknown column: the model does not use it"
    elif kind == "missing":
        message = "required column is missing"
    elif error.get("input", ...) is None and kind.endswith("_type"):
        message = "must not be null: training saw no missing values in this column"
        kind = "null_not_allowed"
    return field_entry(loc, message, kind)


def openapi_errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` entries that document the error shape for the given statuses."""
    return {
        status: {"model": ErrorResponse, "description": STATUS_TEXT.get(status, "Error.")}
        for status in statuses
    }
