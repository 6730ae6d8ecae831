"""In-process ControlBus on anyio memory object streams (one process, no persistence).

Delivery policy:

* **Fan-out** (no ``group``): every subscriber has its own bounded buffer
  (``controlbus.subscriber_buffer``). ``publish`` never waits: when a subscriber's buffer is
  full the event is dropped *for that subscriber only*, its ``dropped`` counter grows and a
  ``controlbus_subscriber_lagging`` warning is logged. The subscriber sees the gap as a jump
  in ``bus_seq`` (per topic) or in ``event.seq`` and can re-read the missed events from the
  store's event log (``events_since``). Other subscribers and the publisher are unaffected.
* **Groups** (``group=name``): the members of a group share one queue per topic and split the
  events between them. An event handed to a member stays *in flight* until the member acks
  it; when the member's subscription closes, its in-flight events go back to the front of
  the group's queue and are delivered again (at-least-once). Events published while a group
  has no member wait in its queue (bounded like a subscriber buffer; overflow is dropped
  and counted). A group exists from its first subscription to ``close()``.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import anyio
import structlog
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from app.contracts.events import CloudEvent
from app.controlbus.ports import BusEnvelope
from app.errors import Code, ServiceUnavailableError
from app.runtime.lifecycle import Component

__all__ = ["MemoryControlBus", "MemoryGroupSubscription", "MemorySubscription"]

log = structlog.get_logger(__name__)


class MemorySubscription:
    """A fan-out subscription with its own bounded buffer; ``dropped`` counts lost events."""

    def __init__(self, topics: Sequence[str], buffer: int) -> None:
        self.topics = frozenset(topics)
        self.dropped = 0
        send, receive = anyio.create_memory_object_stream[BusEnvelope](max_buffer_size=buffer)
        self._send: MemoryObjectSendStream[BusEnvelope] = send
        self._receive: MemoryObjectReceiveStream[BusEnvelope] = receive

    def offer(self, envelope: BusEnvelope) -> None:
        """Queue ``envelope`` without waiting; drop and count it when the buffer is full."""
        try:
            self._send.send_nowait(envelope)
        except anyio.WouldBlock:
            self.dropped += 1
            log.warning(
                "controlbus_subscriber_lagging",
                topic=envelope.topic,
                bus_seq=envelope.bus_seq,
                dropped=self.dropped,
            )
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass  # the subscriber left between the topic lookup and this send

    def end(self) -> None:
        """End the stream: the iterator finishes once the buffered events are consumed."""
        self._send.close()

    def close(self) -> None:
        """Close both ends (the subscriber left)."""
        self._send.close()
        self._receive.close()

    def __aiter__(self) -> AsyncIterator[BusEnvelope]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[BusEnvelope]:
        try:
            while True:
                yield await self._receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            return

    async def ack(self, envelope: BusEnvelope) -> None:
        """No-op: fan-out subscriptions have nothing to acknowledge."""


class _Group:
    """The shared queues of one consumer group (one deque per topic)."""

    def __init__(self, name: str, buffer: int) -> None:
        self.name = name
        self.buffer = buffer
        self.queues: dict[str, deque[tuple[int, BusEnvelope]]] = {}
        self.dropped = 0
        self.closed = False
        self._wakeup = anyio.Event()

    def push(self, order: int, envelope: BusEnvelope) -> None:
        queue = self.queues.setdefault(envelope.topic, deque())
        if len(queue) >= self.buffer:
            self.dropped += 1
            log.warning("controlbus_group_lagging", group=self.name, topic=envelope.topic)
            return
        queue.append((order, envelope))
        self.wake()

    def requeue(self, items: list[tuple[int, BusEnvelope]]) -> None:
        """Put un-acked items back at the front, keeping publish order."""
        for order, envelope in sorted(items, key=lambda item: item[0], reverse=True):
            self.queues.setdefault(envelope.topic, deque()).appendleft((order, envelope))
        if items:
            self.wake()

    def take(self, topics: frozenset[str]) -> tuple[int, BusEnvelope] | None:
        """Pop the oldest queued event on one of ``topics``."""
        best: deque[tuple[int, BusEnvelope]] | None = None
        for topic in topics:
            queue = self.queues.get(topic)
            if queue and (best is None or queue[0][0] < best[0][0]):
                best = queue
        return best.popleft() if best is not None else None

    def wake(self) -> None:
        self._wakeup.set()
        self._wakeup = anyio.Event()

    def waiter(self) -> anyio.Event:
        return self._wakeup


class MemoryGroupSubscription:
    """A member of a consumer group: takes events from the group's queue, acks them."""

    def __init__(self, group: _Group, topics: Sequence[str], consumer: str) -> None:
        self.topics = frozenset(topics)
        self.consumer = consumer
        self._group = group
        self._in_flight: dict[str, tuple[int, BusEnvelope]] = {}
        self._closed = False

    def __aiter__(self) -> AsyncIterator[BusEnvelope]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[BusEnvelope]:
        while not self._closed and not self._group.closed:
            wakeup = self._group.waiter()  # taken before checking: a push after it wakes us
            item = self._group.take(self.topics)
            if item is None:
                await wakeup.wait()
                continue
            self._in_flight[item[1].receipt] = item
            yield item[1]

    async def ack(self, envelope: BusEnvelope) -> None:
        """Mark ``envelope`` done: it will not be delivered again to this group."""
        self._in_flight.pop(envelope.receipt, None)

    def close(self) -> None:
        """Leave the group; un-acked events go back to the group's queue."""
        if self._closed:
            return
        self._closed = True
        if not self._group.closed:
            self._group.requeue(list(self._in_flight.values()))
        self._in_flight.clear()
        self._group.wake()


class MemoryControlBus(Component):
    """The in-memory ControlBus adapter (see the module docstring for the delivery policy).

    Args:
        subscriber_buffer: events buffered per fan-out subscriber (and per group topic queue).
    """

    def __init__(self, subscriber_buffer: int = 10_000) -> None:
        self._buffer = subscriber_buffer
        self._seq: dict[str, int] = {}
        self._order = itertools.count(1)
        self._subs: dict[str, set[MemorySubscription]] = {}
        self._groups: dict[str, _Group] = {}
        self._closed = False

    async def start(self) -> None:
        """Open the bus (it is usable right after construction too)."""
        self._closed = False

    async def close(self) -> None:
        """End every open subscription; later publishes fail until ``start``."""
        self._closed = True
        for subs in self._subs.values():
            for sub in subs:
                sub.end()
        self._subs.clear()
        for group in self._groups.values():
            group.closed = True
            group.wake()
        self._groups.clear()


    async def ping(self) -> bool:
        """Return True while the bus is open."""
        return not self._closed

    async def publish(self, topic: str, event: CloudEvent) -> BusEnvelope:
        """Deliver ``event`` to every subscriber and group of ``topic`` without waiting.

        Raises:
            ServiceUnavailableError: the bus is closed.
        """
        if self._closed:
            raise ServiceUnavailableError(
                "The control bus is closed.", code=Code.CONTROLBUS_UNAVAILABLE
            )
        seq = self._seq.get(topic, 0) + 1
        self._seq[topic] = seq
        envelope = BusEnvelope(topic=topic, bus_seq=seq, event=event, receipt=f"{topic}:{seq}")
        for sub in tuple(self._subs.get(topic, ())):
            sub.offer(envelope)
        order = next(self._order)
        for group in self._groups.values():
            if topic in group.queues:
                group.push(order, envelope)
        return envelope

    def subscribe(
        self,
        topics: Sequence[str],
        *,
        group: str | None = None,
        consumer: str | None = None,
    ) -> AbstractAsyncContextManager[MemorySubscription | MemoryGroupSubscription]:
        """Open a fan-out subscription, or join consumer group ``group``."""
        if group is None:
            return self._fanout(topics)
        return self._member(topics, group, consumer or f"consumer-{next(self._order)}")

    @asynccontextmanager
    async def _fanout(self, topics: Sequence[str]) -> AsyncIterator[MemorySubscription]:
        sub = MemorySubscription(topics, self._buffer)
        if self._closed:
            sub.end()
        else:
            for topic in sub.topics:
                self._subs.setdefault(topic, set()).add(sub)
        try:
            yield sub
        finally:
            for topic in sub.topics:
                self._subs.get(topic, set()).discard(sub)
            sub.close()

    @asynccontextmanager
    async def _member(
        self, topics: Sequence[str], name: str, consumer: str
    ) -> AsyncIterator[MemoryGroupSubscription]:
        grp = self._groups.get(name)
        if grp is None:
            grp = _Group(name, self._buffer)
            grp.closed = self._closed
            if not self._closed:
                self._groups[name] = grp
        for topic in topics:
            grp.queues.setdefault(topic, deque())
        member = MemoryGroupSubscription(grp, topics, consumer)
        try:
            yield member
        finally:
            member.close()
