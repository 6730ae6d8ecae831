"""``WS /events``: subscribe, replay from the event log, then stream relayed events."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Final

import anyio
import msgspec
import structlog
from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect
from litestar.handlers import WebsocketRouteHandler
from litestar.types import WebSocketSendEvent

from app.errors import Code
from app.gateway.event_views import (
    EventFrame,
    SubscriptionError,
    SubscriptionSpec,
    control_frame,
    encode_message,
    error_frame,
    subscription_from_message,
    subscription_from_query,
)
from app.gateway.relay import (
    ClientQueue,
    Close,
    EventRelay,
    GapMarker,
    LagMarker,
    Resubscribe,
)
from app.runtime.ws_protocol import SEND_BATCH
from app.settings import RelaySettings
from app.store.ports import EventLog
from app.web.auth import MUTATING_OPT

__all__ = [
    "CLOSE_INTERNAL",
    "CLOSE_MESSAGE_TOO_BIG",
    "CLOSE_POLICY",
    "TokenBucket",
    "events_ws_route",
    "replay",
]

log = structlog.get_logger(__name__)

#: Close code after a bad subscription, a bad message or too many messages.
CLOSE_POLICY: Final = 1008
#: Close code after a client message larger than ``max_message_bytes``.
CLOSE_MESSAGE_TOO_BIG: Final = 1009
#: Close code after the event log failed during a resume (or a server fault).
CLOSE_INTERNAL: Final = 1011
_REPLAY_BATCH: Final = 500
_SEND: Final = "websocket.send"
_Disconnected = (WebSocketDisconnect, OSError, anyio.BrokenResourceError)


class TokenBucket:
    """Allows ``rate`` messages per second with bursts of up to ``rate`` messages."""

    def __init__(self, rate: float, now: float | None = None) -> None:
        self._rate = rate
        self._capacity = max(1.0, rate)
        self._tokens = self._capacity
        self._last = time.monotonic() if now is None else now

    def take(self, now: float | None = None) -> bool:
        """Spend one token; False when the client is over its rate."""
        now = time.monotonic() if now is None else now
        self._tokens = min(self._capacity, self._tokens + max(0.0, now - self._last) * self._rate)
        self._last = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True


async def replay(
    socket: WebSocket[Any, Any, Any],
    spec: SubscriptionSpec,
    event_log: EventLog,
    limit: int,
    window: tuple[int, int],
) -> int:
    """Send the retained events after ``spec.since`` (a ``gap`` frame first if some are gone).

    Args:
        socket: the client.
        spec: the subscription, with ``since`` set.
        event_log: where retained events are read.
        limit: the most events replayed.
        window: ``retained_range()`` read *before* the ``subscribed`` frame was sent, so an
            event stored after that frame is replayed or relayed live, never skipped.

    Returns:
        The sequence number the replay covered up to; live events at or below it are stale.
    """
    assert spec.since is not None
    oldest, latest = window
    cursor = min(spec.since, latest)  # a `since` from before a log reset: everything is new
    if latest and oldest > cursor + 1:
        await socket.send_text(
            control_frame("gap", missed_from=cursor + 1, missed_to=oldest - 1, reason="retention")
        )
        cursor = oldest - 1
    topics = sorted(spec.topics)
    scanned = 0
    while scanned < limit:
        batch = await event_log.events_since(cursor, topics, min(_REPLAY_BATCH, limit - scanned))
        if not batch:
            return cursor
        for stored in batch:
            cursor = stored.seq
            event = stored.event
            if event.seq != stored.seq:
                event = msgspec.structs.replace(event, seq=stored.seq)
            frame = EventFrame(event, stored.topic)
            if spec.matches(frame.topic, frame.world_id):
                await socket.send_text(frame.encoded(spec.schema_version))
        scanned += len(batch)
    _, latest = await event_log.retained_range()
    if latest > cursor:
        await socket.send_text(
            control_frame("gap", missed_from=cursor + 1, missed_to=latest, reason="replay_limit")
        )
        cursor = latest
    return cursor


async def _writer(
    socket: WebSocket[Any, Any, Any], queue: ClientQueue, event_log: EventLog, limit: int
) -> None:
    send: Any = socket.send  # the ASGI send itself: no per-message wrapper layers
    batches = SEND_BATCH in (socket.scope.get("extensions") or {})
    while True:
        item = await queue.next()
        if isinstance(item, list):  # every queued event up to the next marker
            if batches:  # one ASGI message for the lot (`worldgate serve`)
                await send({"type": SEND_BATCH, "texts": item})
            else:
                for text in item:
                    message: WebSocketSendEvent = {
                        "type": _SEND, "bytes": None, "text": text.decode()
                    }
                    await send(message)
            if queue.metrics is not None:
                queue.metrics.event_relayed(len(item))
        elif isinstance(item, LagMarker | GapMarker):
            await socket.send_text(encode_message(item.frame()))
        elif isinstance(item, Resubscribe):
            await _resubscribe(socket, queue, item, event_log, limit)
        elif isinstance(item, Close):
            if item.frame is not None:
                await socket.send_text(item.frame)
            await socket.close(code=item.code, reason=item.reason)
            return


async def _resubscribe(
    socket: WebSocket[Any, Any, Any],
    queue: ClientQueue,
    item: Resubscribe,
    event_log: EventLog,
    limit: int,
) -> None:
    """Ack a (new) subscription, then replay its ``since`` from the log."""
    window: tuple[int, int] | Exception | None = None
    if item.spec.since is not None:
        try:
            window = await event_log.retained_range()
        except Exception as exc:  # reported after the `subscribed` frame, below
            window = exc
    subscribed = item.spec.describe()
    start, queue.start_seq = queue.start_seq, None  # only the first subscription knows it
    if start is not None and item.spec.since is None:
        subscribed["latest_seq"] = start
    await socket.send_text(encode_message(subscribed))
    if window is None:
        return
    try:
        if isinstance(window, Exception):
            raise window
        cursor = await replay(socket, item.spec, event_log, limit, window)
    except _Disconnected:
        raise
    except Exception as exc:  # the store failed: say so instead of a bare 1011
        log.warning("ws_replay_failed", error=repr(exc))
        detail = "The event log is unavailable; retry the resume later."
        queue.close(CLOSE_INTERNAL, "replay failed", error_frame(Code.REPLAY_FAILED, detail))
        return
    if queue.spec is item.spec:  # not replaced by a newer subscription meanwhile
        queue.drop_replayed(cursor)


async def _reader(
    socket: WebSocket[Any, Any, Any], queue: ClientQueue, settings: RelaySettings
) -> bool:
    """Read client messages until it leaves (True) or must be closed (False)."""
    bucket = TokenBucket(settings.max_messages_per_second)
    while True:
        message = await socket.receive()
        if message["type"] == "websocket.disconnect":
            return True
        text, data = message.get("text"), message.get("bytes")
        payload: str | bytes = text if isinstance(text, str) else b""
        if isinstance(data, bytes):
            payload = data
        size = len(payload.encode()) if isinstance(payload, str) else len(payload)
        if size > settings.max_message_bytes:
            detail = f"Messages are limited to {settings.max_message_bytes} bytes."
            frame = error_frame(Code.MESSAGE_TOO_BIG, detail)
            queue.close(CLOSE_MESSAGE_TOO_BIG, "message too big", frame)
            return False
        if not bucket.take():
            detail = f"At most {settings.max_messages_per_second:g} messages per second."
            queue.close(CLOSE_POLICY, "rate limited", error_frame(Code.RATE_LIMITED, detail))
            return False
        try:
            spec = subscription_from_message(payload)
        except SubscriptionError as exc:
            queue.close(CLOSE_POLICY, "bad subscription", error_frame(exc.code, exc.detail))
            return False
        queue.resubscribe(spec)


async def _serve(socket: WebSocket[Any, Any, Any], relay: EventRelay, event_log: EventLog) -> None:
    settings = relay.settings
    await socket.accept()
    try:
        spec = subscription_from_query(
            {key: socket.query_params.getall(key) for key in socket.query_params}
        )
    except SubscriptionError as exc:
        await socket.send_text(error_frame(exc.code, exc.detail))
        await socket.close(code=CLOSE_POLICY, reason="bad subscription")
        return
    queue = relay.register(spec or SubscriptionSpec())
    log.info("ws_client_connected", clients=relay.clients)
    try:
        async with anyio.create_task_group() as tg:

            async def read() -> None:
                try:
                    left = await _reader(socket, queue, settings)
                except _Disconnected:
                    left = True
                except Exception:  # a bug must still end in a documented close, not 4500
                    log.exception("ws_reader_failed")
                    detail = "The server failed to handle a message; reconnect with `since`."
                    frame = error_frame(Code.INTERNAL, detail)
                    queue.close(CLOSE_INTERNAL, "internal error", frame)
                    left = False
                if left:
                    tg.cancel_scope.cancel()

            tg.start_soon(read)
            try:
                await _writer(socket, queue, event_log, settings.replay_limit)
            except _Disconnected:
                pass
            tg.cancel_scope.cancel()
    finally:
        relay.unregister(queue)
        log.info("ws_client_disconnected", clients=relay.clients, dropped=queue.dropped)


def events_ws_route(
    relay: Callable[[], EventRelay], event_log: Callable[[], EventLog]
) -> WebsocketRouteHandler:
    """Build the ``WS /events`` handler around the relay and the event log.

    Marked ``opt={"mutating": True}``: when ``security.api_tokens`` is set, the app's token
    guard refuses a connection without ``Authorization: Bearer <token>`` (close 4401).
    """

    async def events(socket: WebSocket[Any, Any, Any]) -> None:
        await _serve(socket, relay(), event_log())

    return websocket("/events", opt={MUTATING_OPT: True})(events)
