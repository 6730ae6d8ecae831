"""Behaviour specific to the in-memory ControlBus: lag policy and closed-bus errors."""

from __future__ import annotations

import anyio
import pytest

from app.contracts.events import EVENT_SOURCE_WORLDSERVICE, new_event
from app.controlbus.adapters.memory import MemoryControlBus, MemorySubscription
from app.errors import AppError

pytestmark = pytest.mark.anyio


async def test_full_subscriber_drops_newest_and_counts_them() -> None:
    bus = MemoryControlBus(subscriber_buffer=3)
    async with bus.subscribe(["t"]) as sub:
        assert isinstance(sub, MemorySubscription)
        for i in range(5):
            await bus.publish("t", new_event("t", EVENT_SOURCE_WORLDSERVICE, {"i": i}))
        assert sub.dropped == 2
        got = []
        with anyio.fail_after(5):
            async for envelope in sub:
                got.append(envelope)
                if len(got) == 3:
                    break
        # The kept events are the oldest three; the gap shows in bus_seq afterwards.
        assert [e.bus_seq for e in got] == [1, 2, 3]
        await bus.publish("t", new_event("t", EVENT_SOURCE_WORLDSERVICE, {"i": 5}))
        with anyio.fail_after(5):
            async for envelope in sub:
                assert envelope.bus_seq == 6
                break
    await bus.close()


async def test_group_keeps_events_published_while_it_has_no_member() -> None:
    bus = MemoryControlBus()
    async with bus.subscribe(["t"], group="g"):
        pass
    ev = new_event("t", EVENT_SOURCE_WORLDSERVICE, {})
    await bus.publish("t", ev)
    async with bus.subscribe(["t"], group="g") as member:
        with anyio.fail_after(5):
            async for envelope in member:
                assert envelope.event.id == ev.id
                break
    await bus.close()


async def test_publish_on_closed_bus_fails_and_ping_says_so() -> None:
    bus = MemoryControlBus()
    await bus.close()
    assert await bus.ping() is False
    with pytest.raises(AppError) as info:
        await bus.publish("t", new_event("t", EVENT_SOURCE_WORLDSERVICE, {}))
    assert info.value.status == 503
    await bus.start()
    assert await bus.ping() is True
