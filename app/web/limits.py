"""The request body size limit: Litestar's 413 answered as a SPEC §10 body naming the limit."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.exceptions.http_exceptions import RequestEntityTooLarge

from app.errors import PayloadTooLargeError

__all__ = ["body_limit_handlers"]


def body_limit_handlers(max_body_bytes: int) -> dict[int | type[Exception], Any]:
    """Exception handlers that answer an oversized body with a sentence naming the limit.

    Litestar stops reading a body beyond ``request_max_body_size`` (or refuses it at once
    from its ``Content-Length``) and raises ``RequestEntityTooLarge``.

    Args:
        max_body_bytes: the configured ``server.max_body_bytes``.

    Returns:
        A mapping to merge into the app's ``exception_handlers``.
    """
    detail = (
        f"The request body exceeds the limit of {max_body_bytes} bytes (server.max_body_bytes)."
    )

    def too_large(_: Request[Any, Any, Any], __: RequestEntityTooLarge) -> Response[Any]:
        body: dict[str, Any] = {
            "status": 413,
            "code": PayloadTooLargeError.code,
            "detail": detail,
            "limit": max_body_bytes,
        }
        return Response(content=body, status_code=413, media_type="application/json")

    return {RequestEntityTooLarge: too_large}
