"""Request limits that handlers check after decoding (the body size limit is Litestar's)."""

from __future__ import annotations

from collections.abc import Sized
from typing import Any

from litestar import Request, Response
from litestar.exceptions.http_exceptions import RequestEntityTooLarge

from app.errors import PayloadTooLargeError

__all__ = ["body_limit_handlers", "check_positions"]


def check_positions(
    positions: Sized | int, max_positions: int, *, path: str = "$.positions"
) -> None:
    """Refuse a request that carries more positions than ``server.max_positions``.

    Call it right after decoding a request that has a ``positions`` list (plan, apply,
    allocations, execute), before any work proportional to that list.

    Args:
        positions: the decoded list, or its length.
        max_positions: the configured limit (``settings.server.max_positions``).
        path: the JSON path named in the error item.

    Raises:
        PayloadTooLargeError: 413 ``E_PAYLOAD_TOO_LARGE`` naming the count and the limit.
    """
    count = positions if isinstance(positions, int) else len(positions)
    if count <= max_positions:
        return
    message = f"{count} positions exceed the limit of {max_positions} per request"
    raise PayloadTooLargeError(
        f"Too many positions: {message} (server.max_positions).",
        errors=[{"path": path, "message": message}],
        extra={"limit": max_positions, "count": count},
    )


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
