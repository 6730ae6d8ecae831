"""The ControlBus port: publish events by topic, subscribe to one or more topics."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol

import msgspec

from app.contracts.events import CloudEvent

__all__ = ["BusEnvelope", "ControlBus", "Subscription"]


class BusEnvelope(msgspec.Struct, frozen=True, kw_only=True):
    """One delivered event: its topic, the bus's per-topic sequence, and the event.

    ``event.id`` is stable across re-deliveries; consumers dedupe by it. ``bus_seq``
    increases per topic in publish order (for Redis it is derived from the stream id).
    ``receipt`` is the adapter's handle for ``ack`` (the Redis stream entry id).
    """

    topic: str
    bus_seq: int
    event: CloudEvent
    receipt: str = ""


class Subscription(Protocol):
    """An open subscription: iterate it for envelopes; ack when subscribed in a group."""

    def __aiter__(self) -> AsyncIterator[BusEnvelope]: ...

    async def ack(self, envelope: BusEnvelope) -> None:
        """Mark an envelope done for this consumer group (no-op without a group)."""
        ...


class ControlBus(Protocol):
    """Topic-based event transport between WorldService, Gateways and other consumers.

    Without ``group`` every subscriber gets every event published after it subscribed
    (fan-out). With ``group`` the subscribers sharing that group name split the events
    between them, and an event not acked is re-delivered (at-least-once).
    """

    async def start(self) -> None:
        """Open connections; called once by the app lifespan."""
        ...

    async def close(self) -> None:
        """Close connections and end every open subscription."""
        ...

    async def publish(self, topic: str, event: CloudEvent) -> BusEnvelope:
        """Publish one event on ``topic``; returns the envelope as delivered."""
        ...

    def subscribe(
        self,
        topics: Sequence[str],
        *,
        group: str | None = None,
        consumer: str | None = None,
    ) -> AbstractAsyncContextManager[Subscription]:
        """Open a subscription; leaving the context closes it."""
        ...

    async def ping(self) -> bool:
        """Return True when the bus is reachable (used by health probes)."""
        ...
