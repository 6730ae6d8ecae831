"""uvicorn's WebSocket protocol with coalesced writes: the messages an app sends in one
event-loop turn leave in one socket write.

ASGI has no way to send several WebSocket messages at once, and uvicorn writes every
``websocket.send`` to the socket at once: one ``send()`` system call per message. The event
relay sends each client every queued event back to back, so with 100 clients and 1,000
events/s that was 100,000 system calls a second, over half of the server's CPU (py-spy).
This protocol builds each frame as uvicorn does but appends it to a per-connection buffer
that is written once, at the end of the current loop turn. Everything else (handshake,
closing, pings, flow control) is uvicorn's; before any frame uvicorn writes itself (a close,
a failure) the buffer is flushed, so frames keep their order.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState
from websockets.frames import Frame

__all__ = ["CoalescingWebSocketProtocol"]


class CoalescingWebSocketProtocol(WebSocketsSansIOProtocol):
    """``WebSocketsSansIOProtocol`` whose data frames are written once per loop turn."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pending: list[bytes] = []
        self._flush_scheduled = False

    async def send(self, message: Any) -> None:
        """Queue a data frame for the end of this loop turn; anything else as uvicorn does."""
        if (
            message["type"] != "websocket.send"
            or not self.handshake_complete
            or self.close_sent
            or self.initial_response is not None
        ):
            self.flush()
            await super().send(message)
            return
        await self.writable.wait()  # the transport's flow control, as uvicorn waits for it
        if self.disconnected:
            raise ClientDisconnected()
        try:
            data = message.get("bytes")
            if data is not None:
                self.conn.send_binary(data)
            else:
                self.conn.send_text(message["text"].encode())
        except InvalidState:
            raise ClientDisconnected() from None
        self._pending.extend(self.conn.data_to_send())
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write the queued frames now (one system call for all of them)."""
        self._flush_scheduled = False
        if self._pending:
            data = b"".join(self._pending)
            self._pending.clear()
            if not self.transport.is_closing():
                self.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget unsent frames; the peer is gone."""
        self._pending.clear()
        super().connection_lost(exc)

    def handle_close(self, event: Frame) -> None:
        """Send what the app queued, then uvicorn's answer to the peer's close."""
        self.flush()
        super().handle_close(event)

    def handle_parser_exception(self) -> None:
        """Send what the app queued, then uvicorn's close after a protocol error."""
        self.flush()
        super().handle_parser_exception()

    def keepalive_timeout(self) -> None:
        """Send what the app queued, then close as uvicorn does."""
        self.flush()
        super().keepalive_timeout()

    def shutdown(self) -> None:
        """Send what the app queued, then uvicorn's server-shutdown close."""
        self.flush()
        super().shutdown()
