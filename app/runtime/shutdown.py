"""Graceful shutdown: close open WebSockets with 1001 and run drain hooks before the server stops.

uvicorn, on SIGTERM, closes every WebSocket itself with code 1012 before the app's lifespan
shutdown runs. Worldgate closes them first, with 1001 ("going away"), from the server's
shutdown path (:mod:`app.runtime.serving`), so clients see a normal close and reconnect elsewhere.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

import anyio
import structlog
from litestar.exceptions import WebSocketDisconnect
from litestar.types import Message, Send

__all__ = [
    "DRAIN_SHARE",
    "GOING_AWAY",
    "OUTBOX_FLUSH_SHARE",
    "REQUESTS_SHARE",
    "STORE_CLOSE_SHARE",
    "Drain",
    "DrainHook",
    "TrackedWebSocket",
]

log = structlog.get_logger(__name__)

# The shutdown budget: shares of ``server.shutdown_timeout`` for each phase (the rest is
# slack before the watchdog of ``app.runtime.serving`` ends the process).
DRAIN_SHARE: Final = 0.2  # drain hooks and closing WebSockets
REQUESTS_SHARE: Final = 0.4  # in-flight HTTP requests
OUTBOX_FLUSH_SHARE: Final = 0.2  # the outbox publisher's last round
STORE_CLOSE_SHARE: Final = 0.1  # closing the store's connections

#: WebSocket close code "going away" (RFC 6455 §7.4.1): the server is shutting down.
GOING_AWAY = 1001

#: An async callable run when draining starts (e.g. a relay telling clients goodbye).
DrainHook = Callable[[], Awaitable[None]]


class TrackedWebSocket:
    """The ``send`` side of one WebSocket connection, so shutdown can close it.

    Args:
        send: the server's ASGI ``send`` for the connection.
    """

    def __init__(self, send: Send) -> None:
        self._send = send
        self.accepted = False
        self.closed = False

    async def send(self, message: Message) -> None:
        """Pass ``message`` on.

        Raises:
            WebSocketDisconnect: a data message after the connection was closed (by a
                shutdown), so the handler stops as it would for a client disconnect; a
                second close is ignored.
        """
        kind = message["type"]
        if self.closed:
            if kind == "websocket.close":
                return
            raise WebSocketDisconnect(detail="The server closed the connection.", code=GOING_AWAY)
        if kind == "websocket.accept":
            self.accepted = True
        elif kind == "websocket.close":
            self.closed = True
        await self._send(message)

    async def close(self, code: int = GOING_AWAY, reason: str = "server shutting down") -> None:
        """Close the connection with ``code`` unless it was never accepted or is closed."""
        if self.accepted and not self.closed:
            await self.send({"type": "websocket.close", "code": code, "reason": reason})


class Drain:
    """What the app does between SIGTERM and the closing of connections by the server.

    Components register hooks with :meth:`add_hook`; the request middleware registers every
    WebSocket connection. :meth:`begin` runs the hooks, then closes the WebSockets still
    open with 1001 and waits (briefly) for their handlers to finish.
    """

    def __init__(self) -> None:
        self.draining = False
        self._hooks: list[DrainHook] = []
        self._sockets: set[TrackedWebSocket] = set()
        self._all_closed: anyio.Event | None = None

    def add_hook(self, hook: DrainHook) -> None:
        """Run ``hook`` when draining starts (before WebSockets are closed)."""
        self._hooks.append(hook)

    def open_websocket(self, send: Send) -> TrackedWebSocket:
        """Track a new WebSocket connection; use the returned object's ``send``."""
        socket = TrackedWebSocket(send)
        self._sockets.add(socket)
        return socket

    def forget(self, socket: TrackedWebSocket) -> None:
        """Stop tracking a connection whose handler has returned."""
        self._sockets.discard(socket)
        if not self._sockets and self._all_closed is not None:
            self._all_closed.set()

    @property
    def open_websockets(self) -> int:
        """Number of tracked WebSocket connections whose handler is still running."""
        return len(self._sockets)

    async def begin(self, grace_seconds: float) -> None:
        """Start draining: run hooks, close WebSockets with 1001, wait for their handlers.

        Args:
            grace_seconds: the most seconds the whole drain (hooks and waiting for the
                handlers) takes.
        """
        if self.draining:
            return
        self.draining = True
        deadline = anyio.current_time() + grace_seconds
        log.info("drain_started", websockets=len(self._sockets), hooks=len(self._hooks))
        for hook in list(self._hooks):
            with anyio.move_on_after(max(0.0, deadline - anyio.current_time())) as scope:
                try:
                    await hook()
                except Exception:  # one failing hook must not block the others
                    log.exception("drain_hook_failed", hook=getattr(hook, "__qualname__", "?"))
            if scope.cancelled_caught:
                log.warning("drain_hook_timed_out", hook=getattr(hook, "__qualname__", "?"))
        for socket in list(self._sockets):
            try:
                await socket.close()
            except Exception as exc:  # noqa: BLE001 - the peer may be gone already
                log.info("websocket_close_failed", error_type=type(exc).__name__)
        if self._sockets:
            self._all_closed = anyio.Event()
            with anyio.move_on_after(max(0.0, deadline - anyio.current_time())):
                await self._all_closed.wait()
        log.info("drain_finished", websockets_left=len(self._sockets))
