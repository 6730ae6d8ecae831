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

The protocol also offers the app an ASGI extension, ``worldgate.websocket.send_batch``
(listed in ``scope["extensions"]``): one ``{"type": "worldgate.websocket.send_batch",
"texts": [...]}`` message, ``texts`` being UTF-8 encoded ``bytes``, sends each as its own
WebSocket text message, so a batch crosses the middleware once instead of once per message
and the same encoded event can be handed to every client. An app checks the scope before
using it; under other servers it sends message by message.
"""

from __future__ import annotations

from typing import Any, Final

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState
from websockets.frames import Frame
from websockets.http11 import Request
from websockets.protocol import State

__all__ = ["SEND_BATCH", "CoalescingWebSocketProtocol"]

#: The ASGI extension (and message type) for sending many text messages at once.
SEND_BATCH: Final = "worldgate.websocket.send_batch"


_SMALL_HEADERS: Final = tuple(bytes((0x81, size)) for size in range(126))


def _text_header(size: int) -> bytes:
    """The header of an unmasked, unfragmented text frame of ``size`` payload bytes, as a
    server sends it without extensions."""
    if size < 126:
        return _SMALL_HEADERS[size]
    if size < 65_536:
        return b"\x81\x7e" + size.to_bytes(2, "big")
    return b"\x81\x7f" + size.to_bytes(8, "big")


class CoalescingWebSocketProtocol(WebSocketsSansIOProtocol):
    """``WebSocketsSansIOProtocol`` whose data frames are written once per loop turn."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pending: list[bytes] = []
        self._flush_scheduled = False

    def handle_connect(self, event: Request) -> None:
        """Accept the handshake as uvicorn does and advertise ``SEND_BATCH`` to the app."""
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if isinstance(scope, dict):
            scope.setdefault("extensions", {})[SEND_BATCH] = {}

    async def send(self, message: Any) -> None:
        """Queue data frames for the end of this loop turn; anything else as uvicorn does."""
        kind = message["type"]
        if (
            kind not in ("websocket.send", SEND_BATCH)
            or not self.handshake_complete
            or self.close_sent
            or self.initial_response is not None
        ):
            self.flush()
            await super().send(message)
            return
        await self.writable.wait()  # the transport's flow control, as uvicorn waits for it
        if self.disconnected or self.conn.state is not State.OPEN:
            raise ClientDisconnected()
        pending = self._pending
        if kind == SEND_BATCH:
            if self.conn.extensions:  # e.g. permessage-deflate: websockets builds the frames
                for text in message["texts"]:
                    self._send_data(None, text)
            else:  # header and the shared payload, joined once by flush()
                append = pending.append
                for text in message["texts"]:
                    append(_text_header(len(text)))
                    append(text)
        else:
            self._send_data(message.get("bytes"), message.get("text"))
        if not self._flush_scheduled and pending:
            self._flush_scheduled = True
            self.loop.call_soon(self.flush)

    def _send_data(self, data: bytes | None, text: str | bytes | None) -> None:
        try:
            if data is not None:
                self.conn.send_binary(data)
            elif text is not None:
                self.conn.send_text(text.encode() if isinstance(text, str) else text)
        except InvalidState:
            raise ClientDisconnected() from None
        self._pending.extend(self.conn.data_to_send())

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
