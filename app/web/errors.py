"""HTTP edge helpers: the single exception handler that writes SPEC §10 error bodies."""

from __future__ import annotations

import re
from typing import Any

import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from app.errors import AppError, ErrorItem

__all__ = ["error_response", "exception_handlers"]

log = structlog.get_logger(__name__)

_STATUS_CODES = {
    400: "E_BAD_REQUEST",
    401: "E_UNAUTHORIZED",
    403: "E_PERMISSION_DENIED",
    404: "E_NOT_FOUND",
    405: "E_METHOD_NOT_ALLOWED",
    409: "E_CONFLICT",
    413: "E_PAYLOAD_TOO_LARGE",
    415: "E_UNSUPPORTED_MEDIA_TYPE",
    422: "E_VALIDATION",
    429: "E_RATE_LIMITED",
    503: "E_SERVICE_UNAVAILABLE",
}
_MISSING_FIELD = re.compile(r"missing required field `([^`]+)`")
_MSGSPEC_PATH = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)


def error_response(status: int, code: str, detail: str, **extra: Any) -> Response[Any]:
    """Build a SPEC §10 JSON error response."""
    body: dict[str, Any] = {"status": status, "code": code, "detail": detail}
    body.update({k: v for k, v in extra.items() if v is not None})
    return Response(content=body, status_code=status, media_type="application/json")


def msgspec_error_item(message: str) -> ErrorItem:
    """Split msgspec's ``"<message> - at `$.a[0].b`"`` into ``{"path", "message"}``."""
    match = _MSGSPEC_PATH.match(message)
    if match is None:  # pragma: no cover - the pattern matches every string
        return {"path": "$", "message": message}
    path = match.group("path")
    return {"path": f"${path}" if path is not None else "$", "message": match.group("message")}


def _validation_items(exc: ValidationException) -> list[ErrorItem]:
    items: list[ErrorItem] = []
    extra = exc.extra if isinstance(exc.extra, list) else [exc.extra] if exc.extra else []
    for entry in extra:
        if isinstance(entry, dict):
            message = str(entry.get("message", exc.detail))
            key = entry.get("key")
            item = msgspec_error_item(message)
            if key and key != "data" and item["path"] == "$":  # "data" is the body itself
                item["path"] = f"$.{key}"
            missing = _MISSING_FIELD.search(item["message"])
            if missing is not None:  # name the missing field in the path
                item["path"] = f"{item['path']}.{missing.group(1)}"
            items.append(item)
    return items


def _app_error(_: Request[Any, Any, Any], exc: AppError) -> Response[Any]:
    return Response(
        content=exc.body(),
        status_code=exc.status,
        media_type="application/json",
        headers=exc.headers or None,
    )


def _validation_error(_: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    items = _validation_items(exc)
    malformed = any("malformed" in i["message"].lower() for i in items)
    if malformed or "malformed" in str(exc.detail).lower():
        return error_response(
            400, "E_MALFORMED_JSON", "The request body is not valid JSON.", errors=items or None
        )
    detail = items[0]["message"] if len(items) == 1 else "The request is invalid."
    if len(items) == 1 and items[0]["path"] != "$":
        detail = f"{items[0]['message']} (at {items[0]['path']})"
    return error_response(422, "E_VALIDATION", detail, errors=items or None)


def _http_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    code = _STATUS_CODES.get(status, "E_INTERNAL" if status >= 500 else "E_BAD_REQUEST")
    if status == 400 and "malformed" in str(exc.detail).lower():  # Litestar's body decoding
        code = "E_MALFORMED_JSON"
    return error_response(status, code, str(exc.detail))


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled_error", path=request.url.path, error_type=type(exc).__name__)
    return error_response(
        HTTP_500_INTERNAL_SERVER_ERROR, "E_INTERNAL", "An internal error occurred."
    )


exception_handlers: dict[int | type[Exception], Any] = {
    AppError: _app_error,
    ValidationException: _validation_error,
    HTTPException: _http_error,
    Exception: _unexpected,
}
