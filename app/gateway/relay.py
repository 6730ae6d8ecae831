"""The event log → WebSocket relay: events are read from the store's durable log in ``seq``
order and fanned out to bounded per-client queues; the ControlBus only wakes the relay up.

Why the log and not the bus: the bus gives no order across topics (one Redis stream per
topic) nor across processes publishing at once, so relaying bus envelopes made clients see
``seq`` out of order, and a client resuming with ``since`` then skipped some events and got
others twice. The log is one sequence, and an event becomes visible there only after every
event with a smaller ``seq`` is visible (SQLite: one writer at a time; PostgreSQL: the
advisory lock of ``PostgresBase._insert_events``, held until commit). So one reader following
``events_since(head)`` sees every event exactly once and in order, whatever the bus and
however many processes write.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Final

import anyio
import anyio.lowlevel
import msgspec
import structlog
from anyio.abc import TaskGroup, TaskStatus

from app.contracts.events import TOPICS
from app.controlbus.ports import ControlBus
from app.gateway.client_queue import (
    ClientQueue,
    Close,
    GapMarker,
    LagMarker,
    QueueItem,
    Resubscribe,
)
from app.gateway.event_views import EventFrame, RecentIds, SubscriptionSpec
from app.runtime.lifecycle import Component
from app.settings import RelaySettings
from app.store.ports import EventLog, StoredEvent
from app.telemetry import AppMetrics

__all__ = [
    "CLOSE_GOING_AWAY",
    "ClientQueue",
    "Close",
    "EventRelay",
    "GapMarker",
    "LagMarker",
    "QueueItem",
    "Resubscribe",
]

log = structlog.get_logger(__name__)

#: WebSocket close code sent to every client when the Gateway shuts down.
CLOSE_GOING_AWAY: Final = 1001
_RETRY_SECONDS: Final = 0.5
_MAX_BACKOFF: Final = 5.0


class EventRelay(Component):
    """Relays the event log to WebSocket client queues (a component).

    Args:
        bus: the ControlBus; one fan-out subscription to every topic wakes the relay when
            an event is published (and carries events that never went through the store).
        event_log: the store's event log, read in ``seq`` order.
        settings: ``[gateway.relay]`` (queue bounds, log batch size, poll interval).
        metrics: where relayed/dropped events and connected clients are counted.
        dedupe_window: how many recent ids of bus-only events are remembered.
        close_grace: the most seconds ``close`` waits for clients to leave.
    """

    def __init__(
        self,
        bus: ControlBus,
        event_log: EventLog,
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
        #: The last ``seq`` read from the log (None until the log answered once).
        self.head: int | None = None
        self._bus = bus
        self._log = event_log
        self._recent = RecentIds(dedupe_window)
        self._clients: set[ClientQueue] = set()
        self._task_group: TaskGroup | None = None
        self._stack = AsyncExitStack()
        self._stopping = False
        self._all_gone = anyio.Event()
        self._wake = anyio.Event()

    @property
    def clients(self) -> int:
        """Number of connected clients."""
        return len(self._clients)

    def register(self, spec: SubscriptionSpec) -> ClientQueue:
        """Add a client; it gets every matching event read from the log from now on."""
        queue = ClientQueue(
            spec,
            self.settings.client_buffer,
            self.metrics,
            max_bytes=self.settings.client_buffer_bytes,
        )
        queue.start_seq = self.head
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

    def wake(self, seq: int | None = None) -> None:
        """Read the log now (``seq``: an event known to be stored; None: just look)."""
        if seq is None or self.head is None or seq > self.head:
            self._wake.set()

    def dispatch(self, frame: EventFrame) -> bool:
        """Hand one event to every client queue; False when it was a re-delivery.

        Events read from the log are each dispatched once; the id window only catches
        re-deliveries of events that reach the relay straight from the bus.
        """
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
        """Learn the log's head, subscribe to the bus and start relaying; returns once
        subscribed (or once the first subscription attempt failed: it is retried)."""
        self._stopping = False
        try:
            self.head = (await self._log.retained_range())[1]
        except Exception as exc:  # the follower learns it as soon as the store answers
            log.warning("relay_log_unavailable", error=repr(exc))
        self._task_group = await self._stack.enter_async_context(anyio.create_task_group())
        self._task_group.start_soon(self._follow)
        await self._task_group.start(self._listen)

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
        """Close every client with 1001 and stop following the log and the bus."""
        await self.close_clients(grace=self.close_grace)
        task_group, self._task_group = self._task_group, None
        if task_group is not None:
            task_group.cancel_scope.cancel()
            await self._stack.aclose()
        log.info("relay_stopped", relayed=self.relayed, duplicates=self.duplicates)

    # -- following the log ---------------------------------------------------------------

    async def catch_up(self) -> int:
        """Dispatch every event stored after ``head``, in ``seq`` order; return how many.

        Raises:
            Exception: the store failed; ``head`` stays at the last event dispatched.
        """
        if self.head is None:
            self.head = (await self._log.retained_range())[1]
        count = 0
        batch_size = self.settings.log_batch
        while True:
            batch = await self._log.events_since(self.head, None, batch_size)
            if not batch:
                return count
            if batch[0].seq > self.head + 1:
                await self._check_retention(batch[0].seq)
            for stored in batch:
                if self._dispatch_stored(stored):
                    await anyio.lowlevel.checkpoint()  # let the writers drain their queues
                self.head = stored.seq
            count += len(batch)
            if len(batch) < batch_size:
                return count

    async def _check_retention(self, first_seq: int) -> None:
        # A jump in seq is normally a rolled-back append (PostgreSQL identities leave holes);
        # it is a loss only when the log no longer holds what came after ``head``.
        assert self.head is not None
        oldest, _ = await self._log.retained_range()
        if oldest > self.head + 1:
            missed_from, missed_to = self.head + 1, min(oldest, first_seq) - 1
            log.warning("relay_behind_retention", missed_from=missed_from, missed_to=missed_to)
            for queue in tuple(self._clients):
                queue.gap(missed_from, missed_to)

    def _dispatch_stored(self, stored: StoredEvent) -> bool:
        """Offer one stored event to every client; True when some queue is half full."""
        event = stored.event
        if event.seq != stored.seq:  # the log's seq is the one clients resume from
            event = msgspec.structs.replace(event, seq=stored.seq)
        frame = EventFrame(event, stored.topic)
        self.relayed += 1
        pressure = False
        for queue in tuple(self._clients):
            pressure |= queue.offer(frame)
        return pressure

    async def _follow(self) -> None:
        """Read the log whenever woken (or every ``poll_interval`` seconds)."""
        backoff = 0.0
        while True:
            with anyio.move_on_after(backoff or self.settings.poll_interval):
                await self._wake.wait()
            self._wake = anyio.Event()  # a wake during the read triggers the next one
            try:
                await self.catch_up()
                backoff = 0.0
            except anyio.get_cancelled_exc_class():
                raise
            except Exception as exc:  # a store outage must not kill the Gateway: retry
                backoff = min(_MAX_BACKOFF, max(_RETRY_SECONDS, backoff * 2))
                log.warning("relay_log_read_failed", error=repr(exc), retry_in=backoff)

    # -- the bus -------------------------------------------------------------------------

    async def _listen(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        started = False
        while not self._stopping:
            try:
                async with self._bus.subscribe(list(TOPICS)) as subscription:
                    if not started:
                        started = True
                        task_status.started()
                    log.info("relay_subscribed", topics=list(TOPICS))
                    async for envelope in subscription:
                        event = envelope.event
                        if event.seq is None:  # never stored: there is no log to read it from
                            self.dispatch(EventFrame(event, envelope.topic))
                        else:
                            self.wake(event.seq)
            except anyio.get_cancelled_exc_class():
                raise
            except Exception as exc:  # a bus outage must not kill the Gateway: retry
                log.warning("relay_subscription_failed", error=repr(exc))
            if not started:
                started = True
                task_status.started()
            self.wake()  # events published while the subscription was down are in the log
            if not self._stopping:
                await anyio.sleep(_RETRY_SECONDS)

