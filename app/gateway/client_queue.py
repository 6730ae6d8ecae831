"""One WebSocket client's bounded queue of encoded events, fed by the relay, drained in
batches by the client's writer."""

from __future__ import annotations

from collections import deque
from typing import Any

import anyio

from app.gateway.event_views import EventFrame, SubscriptionSpec
from app.telemetry import AppMetrics

__all__ = ["ClientQueue", "Close", "GapMarker", "LagMarker", "QueueItem", "Resubscribe"]


class LagMarker:
    """Stands in a client's queue for the events dropped because the queue was full."""

    __slots__ = ("count", "missed_from", "missed_to")

    def __init__(self, seq: int | None) -> None:
        self.missed_from = seq
        self.missed_to = seq
        self.count = 1

    def extend(self, seq: int | None) -> None:
        """Count one more dropped event."""
        self.count += 1
        if seq is not None:
            self.missed_from = seq if self.missed_from is None else min(self.missed_from, seq)
            self.missed_to = seq if self.missed_to is None else max(self.missed_to, seq)

    def frame(self) -> dict[str, Any]:
        """Return the ``lagged`` control message."""
        return {
            "type": "lagged",
            "missed_from": self.missed_from,
            "missed_to": self.missed_to,
            "count": self.count,
        }


class GapMarker:
    """Stands in a client's queue for live events the relay could no longer read (pruned
    from the log before the relay got to them)."""

    __slots__ = ("missed_from", "missed_to")

    def __init__(self, missed_from: int, missed_to: int) -> None:
        self.missed_from = missed_from
        self.missed_to = missed_to

    def frame(self) -> dict[str, Any]:
        """Return the ``gap`` control message."""
        return {
            "type": "gap",
            "missed_from": self.missed_from,
            "missed_to": self.missed_to,
            "reason": "retention",
        }


class Resubscribe:
    """Asks the client's writer to (re)apply a subscription: ack it, then replay ``since``."""

    __slots__ = ("spec",)

    def __init__(self, spec: SubscriptionSpec) -> None:
        self.spec = spec


class Close:
    """Asks the client's writer to send ``frame`` (if any) and close with ``code``."""

    __slots__ = ("code", "frame", "reason")

    def __init__(self, code: int, reason: str = "", frame: bytes | None = None) -> None:
        self.code = code
        self.reason = reason
        self.frame = frame


#: What the writer gets from ``ClientQueue.next``: a control item, or a batch of event
#: messages (the UTF-8 text of each, in ``seq`` order) to send one after the other.
QueueItem = LagMarker | GapMarker | Resubscribe | Close | list[bytes]
_Marker = LagMarker | GapMarker


class ClientQueue:
    """One client's bounded queue of events, fed by the relay, drained by its writer.

    ``offer`` never waits and never encodes twice: it stores the text of the event as this
    client's schema version shows it (encoded once per version and shared by every client).
    Past ``capacity`` events or ``max_bytes`` bytes of queued text, events are dropped and
    summed up in one ``LagMarker`` at the tail, so the client learns exactly which sequence
    range it missed. One event larger than ``max_bytes`` is still queued when the queue is
    empty (it is sent, not dropped forever).
    """

    def __init__(
        self,
        spec: SubscriptionSpec,
        capacity: int,
        metrics: AppMetrics | None = None,
        *,
        max_bytes: int = 16 * 1024 * 1024,
    ) -> None:
        self.spec = spec
        self.metrics = metrics
        self.capacity = max(1, capacity)
        self.max_bytes = max(1, max_bytes)
        self.dropped = 0
        #: After a replay: live events with ``seq`` at or below it were sent already.
        self.floor: int | None = None
        #: The log position the relay had dispatched up to when this client registered:
        #: every event after it reaches the client (sent as ``latest_seq``, so a client that
        #: loses the connection before its first event knows where to resume).
        self.start_seq: int | None = None
        # Queued events are the shared frames themselves (no per-client object per event:
        # at 100 clients that allocation alone kept the garbage collector busy).
        self._items: deque[EventFrame | _Marker] = deque()
        self._count = 0  # events (not markers) in _items, plus the batch being sent
        self._bytes = 0  # bytes of those events
        self._inflight = (0, 0)  # (events, bytes) of the batch the writer is sending
        self._pending: Resubscribe | None = Resubscribe(spec)
        self._close: Close | None = None
        self._wakeup = anyio.Event()

    @property
    def queued_bytes(self) -> int:
        """Bytes of event text waiting to be sent."""
        return self._bytes

    def __len__(self) -> int:
        return self._count

    def offer(self, frame: EventFrame) -> bool:
        """Queue ``frame`` if it matches the subscription; drop and record it when full.

        Returns:
            True when the event was queued and the queue is now at least half full: the
            caller should let the writer run before offering more (a burst read from the log
            then reaches a client that keeps up instead of overflowing its queue).
        """
        spec = self.spec
        if self._close is not None or not spec.matches(frame.topic, frame.world_id):
            return False
        seq = frame.seq
        if self.floor is not None and seq is not None and seq <= self.floor:
            return False  # already sent by the replay
        text = frame.encoded_bytes(spec.schema_version)
        size = len(text)
        if self._count >= self.capacity or (self._count and self._bytes + size > self.max_bytes):
            self._drop(seq)
            return False
        self._items.append(frame)
        self._count += 1
        self._bytes += size
        self._wakeup.set()
        return self._count * 2 >= self.capacity or self._bytes * 2 >= self.max_bytes

    def _drop(self, seq: int | None) -> None:
        self.dropped += 1
        if self.metrics is not None:
            self.metrics.event_dropped("lagging")
        tail = self._items[-1] if self._items else None
        if isinstance(tail, LagMarker):
            tail.extend(seq)
        else:
            self._items.append(LagMarker(seq))
            self._wakeup.set()

    def gap(self, missed_from: int, missed_to: int) -> None:
        """Tell the client that live events in ``[missed_from, missed_to]`` are lost."""
        if self._close is None:
            self._items.append(GapMarker(missed_from, missed_to))
            self._wakeup.set()

    def resubscribe(self, spec: SubscriptionSpec) -> None:
        """Switch to ``spec``: forget what is queued; the writer acks and replays next."""
        self.spec = spec
        self.floor = None
        self._items.clear()
        self._count, self._bytes = self._inflight
        self._pending = Resubscribe(spec)
        self._wakeup.set()

    def close(self, code: int, reason: str = "", frame: bytes | None = None) -> None:
        """Ask the writer to close the connection (first request wins)."""
        if self._close is None:
            self._close = Close(code, reason, frame)
            self._items.clear()  # nothing more is sent: free the memory now
            self._count, self._bytes = self._inflight
            self._wakeup.set()

    def drop_replayed(self, cursor: int) -> None:
        """Forget queued live events the replay already covered (``seq <= cursor``)."""
        self.floor = cursor
        kept: deque[EventFrame | _Marker] = deque()
        count, size = self._inflight
        version = self.spec.schema_version
        for item in self._items:
            if isinstance(item, EventFrame):
                if item.seq is None or item.seq > cursor:
                    kept.append(item)
                    count += 1
                    size += len(item.encoded_bytes(version))
            elif isinstance(item, GapMarker):
                if item.missed_to > cursor:
                    item.missed_from = max(item.missed_from, cursor + 1)
                    kept.append(item)
            elif item.missed_to is None or item.missed_to > cursor:
                if item.missed_from is not None and item.missed_from <= cursor:
                    item.missed_from = cursor + 1
                kept.append(item)
        self._items, self._count, self._bytes = kept, count, size

    async def next(self) -> QueueItem:
        """Wait for the next thing to do: a close, a new subscription, a marker, or every
        queued event up to the next marker (one batch, sent back to back)."""
        count, size = self._inflight  # the writer asks again: its last batch was sent
        self._count -= count
        self._bytes -= size
        self._inflight = (0, 0)
        while True:
            if self._close is not None:
                return self._close
            if self._pending is not None:
                pending, self._pending = self._pending, None
                return pending
            items = self._items
            if items:
                if not isinstance(items[0], EventFrame):
                    marker = items.popleft()
                    assert not isinstance(marker, EventFrame)
                    return marker
                version = self.spec.schema_version
                batch: list[bytes] = []
                size = 0
                while items and isinstance(items[0], EventFrame):
                    text = items.popleft().encoded_bytes(version)  # type: ignore[union-attr]
                    batch.append(text)
                    size += len(text)
                self._inflight = (len(batch), size)
                return batch
            # A new event of the backend's own class: anyio.Event() looks the backend up
            # on every call, a cost paid per client per batch on the relay's hot path.
            self._wakeup = type(self._wakeup)()
            await self._wakeup.wait()
