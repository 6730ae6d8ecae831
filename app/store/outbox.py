"""The outbox publisher: moves stored events from the store's log to the ControlBus.

Records and their events are committed together by the use cases; this background loop
then claims unpublished rows (a lease, so two publishers do not both take them), publishes
each one and marks it published. A crash between publish and mark re-sends the row later:
delivery is at-least-once, and the event ``id`` is stable so consumers can dedupe.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Protocol

import anyio
import structlog
from anyio.abc import TaskGroup

from app.controlbus.ports import ControlBus
from app.errors import AppError
from app.runtime.lifecycle import Component
from app.store.ports import EventLog

__all__ = ["OutboxPublisher", "PublishCounter"]

log = structlog.get_logger(__name__)

_MAX_BACKOFF = 5.0
_PRUNE_EVERY = 60.0


class PublishCounter(Protocol):
    """Where the publisher counts what it sent (``AppMetrics`` fits)."""

    def event_published(self, topic: str, count: int = 1) -> None:
        """Count ``count`` events published under ``topic``."""
        ...


class OutboxPublisher(Component):
    """The background publisher of one process (a component: ``async with publisher``).

    Args:
        store: the event log to drain.
        bus: the ControlBus to publish on.
        poll_interval: seconds between polls when nobody nudges.
        batch_size: rows claimed per round.
        lease_seconds: how long claimed rows stay reserved for this publisher.
        retention_count: published events kept for resume (pruned beyond).
        retention_seconds: ... and their largest age.
        flush_timeout: how long ``stop`` keeps publishing what is left.
        metrics: counts published events, when given.
    """

    def __init__(
        self,
        store: EventLog,
        bus: ControlBus,
        *,
        poll_interval: float = 0.05,
        batch_size: int = 500,
        lease_seconds: float = 10.0,
        retention_count: int = 100_000,
        retention_seconds: float = 7 * 86_400.0,
        flush_timeout: float = 5.0,
        metrics: PublishCounter | None = None,
    ) -> None:
        self._store = store
        self._bus = bus
        self._poll = poll_interval
        self._batch = batch_size
        self._lease = lease_seconds
        self._retention = (retention_count, retention_seconds)
        self._flush_timeout = flush_timeout
        self._metrics = metrics
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._wake = anyio.Event()
        self._listeners: list[Callable[[], None]] = []
        self._stopping = False
        self._done = anyio.Event()
        self._tg: TaskGroup | None = None
        self._stack = AsyncExitStack()
        self.published = 0

    def nudge(self) -> None:
        """Wake the loop now (called after a use case committed events), and every
        listener added with ``on_nudge`` (the WebSocket relay of this process)."""
        self._wake.set()
        for listener in self._listeners:
            listener()

    def on_nudge(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` (it must not block) whenever events were committed here."""
        self._listeners.append(listener)

    async def start(self) -> None:
        """Start the loop; it first publishes whatever an earlier run left unsent."""
        if self._tg is not None:
            return
        self._stopping = False
        self._done = anyio.Event()
        self._tg = await self._stack.enter_async_context(anyio.create_task_group())
        self._tg.start_soon(self._run)
        log.info("outbox_started", owner=self.owner)

    async def close(self) -> None:
        """Publish what is left (bounded by ``flush_timeout``), then end the loop."""
        tg, self._tg = self._tg, None
        if tg is None:
            return
        self._stopping = True
        self._wake.set()
        with anyio.move_on_after(self._flush_timeout):
            await self._done.wait()
        if not self._done.is_set():
            log.warning("outbox_flush_timeout", owner=self.owner)
            tg.cancel_scope.cancel()
        await self._stack.aclose()
        log.info("outbox_stopped", owner=self.owner, published=self.published)

    async def publish_pending(self) -> int:
        """Run one round: claim, publish, mark. Returns how many events were published.

        Raises:
            AppError: the store or the bus failed; rows not marked stay unpublished.
        """
        claimed = await self._store.claim_unpublished(self._batch, self._lease, self.owner)
        done: list[int] = []
        try:
            for stored in claimed:
                await self._bus.publish(stored.topic, stored.event)
                done.append(stored.seq)
                if self._metrics is not None:
                    self._metrics.event_published(stored.topic)
        finally:
            if done:
                with anyio.CancelScope(shield=True):
                    await self._store.mark_published(done, self.owner)
                self.published += len(done)
        return len(done)

    async def _run(self) -> None:
        backoff = 0.0
        last_prune = anyio.current_time()
        try:
            while not self._stopping:
                self._wake = anyio.Event()  # a nudge during the round wakes the next wait
                try:
                    count = await self.publish_pending()
                    backoff = 0.0
                    if anyio.current_time() - last_prune >= _PRUNE_EVERY:
                        last_prune = anyio.current_time()
                        await self._prune()
                except Exception as exc:  # the loop must outlive any store or bus failure
                    backoff = min(_MAX_BACKOFF, max(self._poll, backoff * 2))
                    detail = exc.detail if isinstance(exc, AppError) else repr(exc)
                    log.warning("outbox_publish_failed", error=detail, retry_in=backoff)
                    with anyio.move_on_after(backoff):
                        while not self._stopping:
                            await self._wake.wait()
                            self._wake = anyio.Event()
                    continue
                if count < self._batch:
                    with anyio.move_on_after(self._poll):
                        await self._wake.wait()
            await self._flush()
        finally:
            self._done.set()

    async def _flush(self) -> None:
        try:
            while await self.publish_pending() >= self._batch:
                pass
        except Exception as exc:  # stopping anyway: what is left is sent by the next start
            log.warning("outbox_flush_failed", error=repr(exc))

    async def _prune(self) -> None:
        count, seconds = self._retention
        dropped = await self._store.prune_events(count, seconds)
        if dropped:
            log.info("outbox_pruned", dropped=dropped)
