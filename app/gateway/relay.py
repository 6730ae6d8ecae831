"""The ControlBus → WebSocket relay: one bus subscription per Gateway process, fanned out
to bounded per-client queues that never block the bus or each other."""

from __future__ import annotations

from collections import deque
from contextlib import AsyncExitStack
from typing import Any, Final

import anyio
import structlog
from anyio.abc import TaskGroup, TaskStatus

from app.contracts.events import TOPICS
from app.controlbus.ports import ControlBus
from app.gateway.event_views import EventFrame, RecentIds, SubscriptionSpec
from app.runtime.lifecycle import Component
from app.settings import RelaySettings
from app.telemetry import AppMetrics

__all__ = [
    "CLOSE_GOING_AWAY",
    "ClientQueue",
    "Close",
    "EventRelay",
    "LagMarker",
    "Resubscribe",
]

log = structlog.get_logger(__name__)

#: WebSocket close code sent to every client when the Gateway shuts down.
CLOSE_GOING_AWAY: Final = 1001
_RETRY_SECONDS: Final = 0.5


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


QueueItem = EventFrame | LagMarker | Resubscribe | Close


class ClientQueue:
    """One client's bounded queue of events, fed by the relay, drained by its writer.

    ``offer`` never waits: past ``capacity`` events are dropped and summed up in one
    ``LagMarker`` at the tail, so the client learns exactly which sequence range it missed.
    """

    def __init__(
        self, spec: SubscriptionSpec, capacity: int, metrics: AppMetrics | None = None
    ) -> None:
        self.spec = spec
        self.metrics = metrics
        self.capacity = max(1, capacity)
        self.dropped = 0
        #: After a replay: live events with ``seq`` at or below it were sent already.
        self.floor: int | None = None
        self._items: deque[EventFrame | LagMarker] = deque()
        self._pending: Resubscribe | None = Resubscribe(spec)
        self._close: Close | None = None
        self._wakeup = anyio.Event()

    def offer(self, frame: EventFrame) -> None:
        """Queue ``frame`` if it matches the subscription; drop and record it when full."""
        if self._close is not None or not self.spec.matches(frame.topic, frame.world_id):
            return
        if self.floor is not None and frame.seq is not None and frame.seq <= self.floor:
            return  # already sent by the replay (the log also holds not-yet-published events)
        if len(self._items) >= self.capacity:
            self.dropped += 1
            if self.metrics is not None:
                self.metrics.event_dropped("lagging")
            tail = self._items[-1] if self._items else None
            if isinstance(tail, LagMarker):
                tail.extend(frame.seq)
            else:
                self._items.append(LagMarker(frame.seq))
            return
        self._items.append(frame)
        self._wakeup.set()

    def resubscribe(self, spec: SubscriptionSpec) -> None:
        """Switch to ``spec``: forget what is queued; the writer acks and replays next."""
        self.spec = spec
        self.floor = None
        self._items.clear()
        self._pending = Resubscribe(spec)
        self._wakeup.set()

    def close(self, code: int, reason: str = "", frame: bytes | None = None) -> None:
        """Ask the writer to close the connection (first request wins)."""
        if self._close is None:
            self._close = Close(code, reason, frame)
            self._wakeup.set()

    def drop_replayed(self, cursor: int) -> None:
        """Forget queued live events the replay already covered (``seq <= cursor``)."""
        self.floor = cursor
        kept: deque[EventFrame | LagMarker] = deque()
        for item in self._items:
            if isinstance(item, EventFrame):
                if item.seq is None or item.seq > cursor:
                    kept.append(item)
            elif item.missed_to is None or item.missed_to > cursor:
                if item.missed_from is not None and item.missed_from <= cursor:
                    item.missed_from = cursor + 1
                kept.append(item)
        self._items = kept

    async def next(self) -> QueueItem:
        """Wait for the next thing to do: a close, a new subscription, or an event."""
        while True:
            if self._close is not None:
                return self._close
            if self._pending is not None:
                pending, self._pending = self._pending, None
                return pending
            if self._items:
                return self._items.popleft()
            self._wakeup = anyio.Event()
            await self._wakeup.wait()


class EventRelay(Component):
    """Relays ControlBus events to WebSocket client queues (a component).

    Args:
        bus: the ControlBus; the relay holds one fan-out subscription to every topic.
        settings: ``[gateway.relay]`` (``client_buffer`` sizes each client queue).
        metrics: where relayed/dropped events and connected clients are counted.
        dedupe_window: how many recent event ids are remembered to drop re-deliveries.
        close_grace: the most seconds ``stop`` waits for clients to leave.
    """

    def __init__(
        self,
        bus: ControlBus,
        settings: RelaySettings,
        *,
        metrics: AppMetrics | None = None,
        dedupe_window: int = 65_536,
        close_grace: float = 5.0,
    ) -> None:
        self.close_grace = close_grace
        self.settings = settings
        self.metrics = metrics
        self.relayed = 0
        self.duplicates = 0
        self._bus = bus
        self._recent = RecentIds(dedupe_window)
        self._clients: set[ClientQueue] = set()
        self._task_group: TaskGroup | None = None
        self._stack = AsyncExitStack()
        self._stopping = False
        self._all_gone = anyio.Event()

    @property
    def clients(self) -> int:
        """Number of connected clients."""
        return len(self._clients)

    def register(self, spec: SubscriptionSpec) -> ClientQueue:
        """Add a client; it gets every matching event relayed from now on."""
        queue = ClientQueue(spec, self.settings.client_buffer, self.metrics)
        if self._stopping:
            queue.close(CLOSE_GOING_AWAY, "server shutting down")
        self._clients.add(queue)
        if self.metrics is not None:
            self.metrics.ws_clients.set(len(self._clients))
        return queue

    def unregister(self, queue: ClientQueue) -> None:
        """Remove a client (it disconnected)."""
        self._clients.discard(queue)
        if self.metrics is not None:
            self.metrics.ws_clients.set(len(self._clients))
        if not self._clients:
            self._all_gone.set()

    def dispatch(self, frame: EventFrame) -> bool:
        """Hand one event to every client queue; False when it was a re-delivery."""
        if not self._recent.add(frame.id):
            self.duplicates += 1
            if self.metrics is not None:
                self.metrics.event_dropped("duplicate")
            return False
        self.relayed += 1
        for queue in tuple(self._clients):
            queue.offer(frame)
        return True

    async def start(self) -> None:
        """Subscribe to the bus and start relaying; returns once subscribed."""
        self._stopping = False
        self._task_group = await self._stack.enter_async_context(anyio.create_task_group())
        await self._task_group.start(self._run)

    async def close_clients(self, code: int = CLOSE_GOING_AWAY, grace: float = 5.0) -> None:
        """Close every client with ``code`` and wait (up to ``grace`` seconds) until they left.

        A server that closes WebSocket connections itself before the app shuts down (uvicorn
        sends 1012) calls this first so clients see 1001.
        """
        self._stopping = True
        for queue in tuple(self._clients):
            queue.close(code, "server shutting down")
        if self._clients:
            self._all_gone = anyio.Event()
            with anyio.move_on_after(grace):
                await self._all_gone.wait()

    async def close(self) -> None:
        """Close every client with 1001 and end the bus subscription."""
        await self.close_clients(grace=self.close_grace)
        task_group, self._task_group = self._task_group, None
        if task_group is not None:
            task_group.cancel_scope.cancel()
            await self._stack.aclose()
        log.info("relay_stopped", relayed=self.relayed, duplicates=self.duplicates)

    async def _run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        started = False
        while not self._stopping:
            try:
                async with self._bus.subscribe(list(TOPICS)) as subscription:
                    if not started:
                        started = True
                        task_status.started()
                    log.info("relay_subscribed", topics=list(TOPICS))
                    async for envelope in subscription:
                        self.dispatch(EventFrame(envelope.event, envelope.topic))
            except anyio.get_cancelled_exc_class():
                raise
            except Exception as exc:  # a bus outage must not kill the Gateway: retry
                log.warning("relay_subscription_failed", error=repr(exc))
            if not started:
                started = True
                task_status.started()
            if not self._stopping:
                await anyio.sleep(_RETRY_SECONDS)
