"""WebSocket connections tracked for a graceful shutdown, and token refusals as HTTP 401."""

from __future__ import annotations

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from app.runtime.shutdown import Drain
from app.web.auth import http_denial_for_websockets

__all__ = ["WebSocketTrackingMiddleware"]


class WebSocketTrackingMiddleware(ASGIMiddleware):
    """Registers every WebSocket with the drain, so a shutdown closes it with 1001.

    Args:
        drain: the app's drain.
    """

    scopes = (ScopeType.WEBSOCKET,)

    def __init__(self, drain: Drain) -> None:
        self.drain = drain

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        """Serve one WebSocket connection while the drain knows of it."""
        socket = self.drain.open_websocket(send)
        try:
            await next_app(scope, receive, http_denial_for_websockets(scope, socket.send))
        finally:
            self.drain.forget(socket)
