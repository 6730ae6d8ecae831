"""The one error-body builder and the exception handlers that answer every error with it."""

from __future__ import annotations

import re
from typing import Any

import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge

from app.contracts.ids import ID_PATTERN
from app.errors import AppError, Code, ErrorItem, code_for_status
from app.web.audit import note

__all__ = ["error_body", "error_item", "error_response", "exception_handlers"]

log = structlog.get_logger(__name__)

_MISSING_FIELD = re.compile(r"missing required field `([^`]+)`")
_MSGSPEC_PATH = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
# msgspec names the identifier pattern as a regex; say what it means instead.
_ID_REGEX_MESSAGE = f"Expected `str` matching regex {ID_PATTERN!r}"
_ID_RULE = "must not contain control characters (U+0000-U+001F, U+007F-U+009F)"


def error_body(
    status: int,
    code: str,
    detail: str,
    errors: list[ErrorItem] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Return the error body ``{"status", "code", "detail", "errors"?, **extra}``."""
    body: dict[str, Any] = {"status": status, "code": str(code), "detail": detail}
    if errors:
        body["errors"] = errors
    if extra:
        body.update({k: v for k, v in extra.items() if v is not None})
    return body


def error_response(
    status: int,
    code: str,
    detail: str,
    errors: list[ErrorItem] | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[Any]:
    """Return the JSON error response of :func:`error_body`."""
    return Response(
        content=error_body(status, code, detail, errors, extra),
        status_code=status,
        media_type="application/json",
        headers=headers or None,
    )


def error_item(message: str, key: str | None = None) -> ErrorItem:
    """Turn a msgspec validation message into ``{"path", "message"}``.

    msgspec says ``"Expected `float`, got `str` - at `$.a[0].b`"``, or for a missing field
    ``"Object missing required field `b` - at `$.a[0]`"``: the path names the field itself.

    Args:
        message: msgspec's message.
        key: the parameter name Litestar reports for a non-body value (query, path).
    """
    match = _MSGSPEC_PATH.match(message)
    assert match is not None  # the pattern matches every string
    path = match.group("path")
    text = match.group("message").replace(_ID_REGEX_MESSAGE, _ID_RULE)
    item = {"path": f"${path}" if path is not None else "$", "message": text}
    if key and key != "data" and item["path"] == "$":  # "data" is the body itself
        item["path"] = f"$.{key}"
    missing = _MISSING_FIELD.search(item["message"])
    if missing is not None:
        item["path"] = f"{item['path']}.{missing.group(1)}"
    return item


def validation_detail(items: list[ErrorItem]) -> str:
    """A one-line detail naming the single bad field, or a summary for several."""
    if len(items) == 1:
        only = items[0]
        return only["message"] if only["path"] == "$" else f"{only['message']} (at {only['path']})"
    return "The request is invalid."


def _app_error(_: Request[Any, Any, Any], exc: AppError) -> Response[Any]:
    return error_response(exc.status, exc.code, exc.detail, exc.errors, exc.extra, exc.headers)


def _validation_error(_: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    extra = exc.extra if isinstance(exc.extra, list) else [exc.extra] if exc.extra else []
    items = [
        error_item(str(entry.get("message", exc.detail)), entry.get("key"))
        for entry in extra
        if isinstance(entry, dict)
    ]
    malformed = any("malformed" in i["message"].lower() for i in items)
    if malformed or "malformed" in str(exc.detail).lower():
        return error_response(
            400, Code.MALFORMED_JSON, "The request body is not valid JSON.", items or None
        )
    return error_response(422, Code.VALIDATION, validation_detail(items), items or None)


def _http_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    code = code_for_status(status)
    if status == 400 and "malformed" in str(exc.detail).lower():  # Litestar's body decoding
        code = Code.MALFORMED_JSON
    return error_response(status, code, str(exc.detail))


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled_error", path=request.url.path, error_type=type(exc).__name__)
    return error_response(500, Code.INTERNAL, "An internal error occurred.")


def exception_handlers(max_body_bytes: int) -> dict[int | type[Exception], Any]:
    """The app's exception handlers: every error becomes an :func:`error_body` answer.

    Args:
        max_body_bytes: ``server.max_body_bytes``, named in the 413 answer. Litestar stops
            reading a body beyond it (or refuses it at once from its ``Content-Length``).
    """
    too_large = (
        f"The request body exceeds the limit of {max_body_bytes} bytes (server.max_body_bytes)."
    )

    def body_too_large(_: Request[Any, Any, Any], __: RequestEntityTooLarge) -> Response[Any]:
        limit = {"limit": max_body_bytes}
        return error_response(413, Code.PAYLOAD_TOO_LARGE, too_large, extra=limit)

    handlers: dict[int | type[Exception], Any] = {
        AppError: _app_error,
        ValidationException: _validation_error,
        RequestEntityTooLarge: body_too_large,
        HTTPException: _http_error,
        Exception: _unexpected,
    }
    return {kind: _noting_code(handler) for kind, handler in handlers.items()}


def _noting_code(handler: Any) -> Any:
    """Wrap an exception handler so the call's audit record gets the error code."""

    def answer(request: Request[Any, Any, Any], exc: Any) -> Response[Any]:
        response: Response[Any] = handler(request, exc)
        content = response.content
        if isinstance(content, dict) and isinstance(content.get("code"), str):
            note(request, code=content["code"])
        return response

    return answer
