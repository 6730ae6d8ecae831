"""Request ids: bound to every log line of a connection and echoed on every HTTP answer."""

from __future__ import annotations

import os
import re
from typing import Any

import structlog
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "REQUEST_ID_HEADER",
    "REQUEST_ID_KEY",
    "REQUEST_ID_SCOPE_KEY",
    "RequestIdMiddleware",
    "request_id_from",
    "with_request_id",
]

#: The header a caller may send (and every HTTP answer carries) to correlate log lines.
REQUEST_ID_HEADER = "x-request-id"

# A caller-chosen id is echoed into logs, so only plain tokens are accepted (no log
# injection, no unbounded size); anything else is replaced by a fresh id.
_VALID_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
REQUEST_ID_KEY = REQUEST_ID_HEADER.encode("latin-1")
"""The header name as it appears in ASGI messages."""
REQUEST_ID_SCOPE_KEY = "worldgate.request_id"
"""Where the connection's request id is kept in its ASGI scope once chosen."""


def request_id_from(scope: Scope) -> str:
    """Return the connection's request id: the one already chosen, the caller's
    ``X-Request-ID`` when it is a plain token, else 32 random hex digits."""
    chosen = scope.get(REQUEST_ID_SCOPE_KEY)
    if isinstance(chosen, str):
        return chosen
    for key, value in scope.get("headers", ()):
        if key.lower() == REQUEST_ID_KEY:
            candidate = value.decode("latin-1")
            if _VALID_ID.match(candidate):
                return candidate
            break
    return os.urandom(16).hex()  # as random as a uuid4, for a sixth of the CPU


def with_request_id(message: Any, request_id: str) -> None:
    """Add the ``X-Request-ID`` header to an ``http.response.start`` message (once)."""
    headers = list(message.get("headers", ()))
    if not any(key.lower() == REQUEST_ID_KEY for key, _ in headers):
        message["headers"] = [*headers, (REQUEST_ID_KEY, request_id.encode("latin-1"))]


class RequestIdMiddleware(ASGIMiddleware):
    """Binds ``request_id`` (structlog contextvars) and echoes it on HTTP answers.

    The app runs it for WebSockets only (``scopes=(ScopeType.WEBSOCKET,)``): for HTTP the
    access middleware does the same in its own pass (:mod:`app.web.access`).

    Args:
        scopes: the connection types it serves (HTTP and WebSocket by default).
    """

    scopes: tuple[ScopeType, ...] = (ScopeType.HTTP, ScopeType.WEBSOCKET)

    def __init__(self, scopes: tuple[ScopeType, ...] | None = None) -> None:
        if scopes is not None:
            self.scopes = scopes

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        """Serve one connection inside its request-id context."""
        request_id = request_id_from(scope)
        scope[REQUEST_ID_SCOPE_KEY] = request_id  # type: ignore[literal-required]
        with structlog.contextvars.bound_contextvars(request_id=request_id):
            if scope["type"] != ScopeType.HTTP:
                await next_app(scope, receive, send)
                return

            async def send_with_id(message: Message) -> None:
                if message["type"] == "http.response.start":
                    with_request_id(message, request_id)
                await send(message)

            await next_app(scope, receive, send_with_id)
