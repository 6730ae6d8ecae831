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

from app.contracts.events import AUDIT
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
from app.web.audit import notes_of
from app.web.auth import Principal, principal_of

__all__ = [
    "CLOSE_INTERNAL",
    "CLOSE_MESSAGE_TOO_BIG",
    "CLOSE_POLICY",
    "KEY_CHECK_SECONDS",
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
#: How often a connected client's key is checked again (a revoked key is cut off).
KEY_CHECK_SECONDS: Final = 1.0
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
            _check_topics(socket, spec)
        except SubscriptionError as exc:
            queue.close(CLOSE_POLICY, "bad subscription", error_frame(exc.code, exc.detail))
            return False
        queue.resubscribe(spec)


def _check_topics(socket: WebSocket[Any, Any, Any], spec: SubscriptionSpec | None) -> None:
    """Refuse the ``audit`` topic to a key without the ``admin`` scope (noted for the audit
    log as a 403 refusal)."""
    if spec is None or AUDIT not in spec.topics:
        return
    principal = principal_of(socket)
    if "admin" in principal.scopes:
        return
    notes = notes_of(socket)
    notes.denied, notes.code, notes.reason = 403, Code.FORBIDDEN_SCOPE, "missing_scope:admin"
    raise SubscriptionError(
        Code.FORBIDDEN_SCOPE,
        f"The topic `{AUDIT}` needs the scope `admin`; key {principal.key_id} "
        f"({principal.name}) does not have it.",
    )


async def _watch_key(
    principal: Principal, key_active: Callable[[str | None], bool], queue: ClientQueue
) -> None:
    """Close the connection once its key is revoked or expired (checked every second); an
    anonymous connection, once the first key makes the deployment require keys."""
    while True:
        await anyio.sleep(KEY_CHECK_SECONDS)
        if not key_active(principal.key_id):
            detail = (
                f"The API key {principal.key_id} is no longer valid (revoked or expired)."
                if principal.key_id else "This deployment now requires an API key."
            )
            queue.close(CLOSE_POLICY, "key no longer valid",
                        error_frame(Code.UNAUTHORIZED, detail))
            return


async def _serve(
    socket: WebSocket[Any, Any, Any],
    relay: EventRelay,
    event_log: EventLog,
    key_active: Callable[[str | None], bool],
) -> None:
    settings = relay.settings
    await socket.accept()
    try:
        spec = subscription_from_query(
            {key: socket.query_params.getall(key) for key in socket.query_params}
        )
        _check_topics(socket, spec)
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
            tg.start_soon(_watch_key, principal_of(socket), key_active, queue)
            try:
                await _writer(socket, queue, event_log, settings.replay_limit)
            except _Disconnected:
                pass
            tg.cancel_scope.cancel()
    finally:
        relay.unregister(queue)
        log.info("ws_client_disconnected", clients=relay.clients, dropped=queue.dropped)


def events_ws_route(
    relay: Callable[[], EventRelay],
    event_log: Callable[[], EventLog],
    key_active: Callable[[str | None], bool] = lambda _: True,
) -> WebsocketRouteHandler:
    """Build the ``WS /events`` handler around the relay and the event log.

    Needs the scope ``read`` (the topic ``audit`` also ``admin``): once any API key exists,
    a handshake without a valid key is refused with 401 (close 4401 where the server cannot
    answer HTTP), one without the scope with 403 (4403).

    Args:
        relay: gives the ControlBus → WebSocket relay.
        event_log: gives the event log (resume from ``since``).
        key_active: says whether a key id is still valid; a connection whose key is
            revoked or expires is closed with 1008 and an ``E_UNAUTHORIZED`` frame.
    """

    async def events(socket: WebSocket[Any, Any, Any]) -> None:
        await _serve(socket, relay(), event_log(), key_active)

    return websocket("/events", opt={"scope": "read", "scope_note": "and `admin` for the "
                                     "topic `audit`"})(events)
