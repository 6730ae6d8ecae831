"""Tests of the relay loop and client queues over the real in-memory ControlBus."""

from __future__ import annotations

import anyio
import anyio.lowlevel
import msgspec
import pytest

from app.contracts.events import REBALANCING_ORDERS, REBALANCING_PLANNED
from app.controlbus.adapters.memory import MemoryControlBus
from app.gateway.event_views import EventFrame, SubscriptionSpec
from app.gateway.events_ws import TokenBucket
from app.gateway.relay import ClientQueue, Close, EventRelay, LagMarker, Resubscribe
from app.settings import RelaySettings
from tests.gateway.events_ws_support import orders_event, planned_event


def _frame(world: str, seq: int | None) -> EventFrame:
    return EventFrame(msgspec.structs.replace(planned_event(world), seq=seq))


async def _drain(queue: ClientQueue, n: int) -> list[object]:
    return [await queue.next() for _ in range(n)]


@pytest.mark.anyio
async def test_queue_starts_with_its_subscription_then_events() -> None:
    queue = ClientQueue(SubscriptionSpec(world_ids=frozenset({"a"})), capacity=10)
    queue.offer(_frame("b", 1))
    queue.offer(_frame("a", 2))
    first, second = await _drain(queue, 2)
    assert isinstance(first, Resubscribe)
    assert isinstance(second, EventFrame) and second.seq == 2


@pytest.mark.anyio
async def test_full_queue_records_one_lag_marker_with_the_gap() -> None:
    queue = ClientQueue(SubscriptionSpec(), capacity=2)
    await queue.next()  # the initial Resubscribe
    for seq in range(1, 7):
        queue.offer(_frame("a", seq))
    items = await _drain(queue, 3)
    assert [i.seq for i in items[:2] if isinstance(i, EventFrame)] == [1, 2]
    marker = items[2]
    assert isinstance(marker, LagMarker)
    assert marker.frame() == {"type": "lagged", "missed_from": 3, "missed_to": 6, "count": 4}
    assert queue.dropped == 4
    queue.offer(_frame("a", 7))  # room again: later events follow the marker
    (after,) = await _drain(queue, 1)
    assert isinstance(after, EventFrame) and after.seq == 7


@pytest.mark.anyio
async def test_close_wins_over_queued_events() -> None:
    queue = ClientQueue(SubscriptionSpec(), capacity=5)
    queue.offer(_frame("a", 1))
    queue.close(1001, "bye")
    queue.close(1008, "ignored: first close wins")
    item = await queue.next()
    assert isinstance(item, Close) and item.code == 1001
    queue.offer(_frame("a", 2))
    assert isinstance(await queue.next(), Close)


@pytest.mark.anyio
async def test_drop_replayed_sets_a_floor_for_later_live_events() -> None:
    queue = ClientQueue(SubscriptionSpec(since=0), capacity=2)
    await queue.next()
    for seq in (1, 2, 3, 4):  # 3 and 4 overflow into a marker
        queue.offer(_frame("a", seq))
    queue.drop_replayed(3)
    queue.offer(_frame("a", 2))  # re-published after the replay: stale
    queue.offer(_frame("a", 5))
    items = await _drain(queue, 2)
    assert isinstance(items[0], LagMarker)
    assert (items[0].missed_from, items[0].missed_to) == (4, 4)
    assert isinstance(items[1], EventFrame) and items[1].seq == 5


@pytest.mark.anyio
async def test_resubscribe_forgets_queued_events() -> None:
    queue = ClientQueue(SubscriptionSpec(), capacity=5)
    await queue.next()
    queue.offer(_frame("a", 1))
    spec = SubscriptionSpec(topics=frozenset({REBALANCING_ORDERS}))
    queue.resubscribe(spec)
    queue.offer(_frame("a", 2))  # planned: filtered out by the new subscription
    queue.offer(EventFrame(orders_event("a")))
    items = await _drain(queue, 2)
    assert isinstance(items[0], Resubscribe) and items[0].spec is spec
    assert isinstance(items[1], EventFrame) and items[1].topic == REBALANCING_ORDERS


@pytest.mark.anyio
async def test_relay_fans_out_dedupes_and_never_blocks_on_a_full_client() -> None:
    bus = MemoryControlBus()
    relay = EventRelay(bus, RelaySettings(client_buffer=1), close_grace=0.01)
    await relay.start()
    try:
        slow = relay.register(SubscriptionSpec())
        fast = relay.register(SubscriptionSpec(topics=frozenset({REBALANCING_PLANNED})))
        await slow.next()
        await fast.next()
        events = [planned_event(f"w{i}") for i in range(3)]
        received: list[str] = []
        with anyio.fail_after(10):
            for event in events:
                await bus.publish(REBALANCING_PLANNED, event)
                await bus.publish(REBALANCING_PLANNED, event)  # re-delivery
                item = await fast.next()
                assert isinstance(item, EventFrame)
                received.append(item.id)
            await bus.publish(REBALANCING_PLANNED, end := planned_event("end"))
            item = await fast.next()
            assert isinstance(item, EventFrame) and item.id == end.id
        assert received == [e.id for e in events]
        assert relay.duplicates == 3 and relay.relayed == 4
        assert slow.dropped == 3  # one queued, the rest summed up in a lag marker
    finally:
        await relay.close()
    await bus.publish(REBALANCING_PLANNED, planned_event("after-stop"))
    await anyio.lowlevel.checkpoint()
    assert relay.relayed == 4  # the subscription is gone
    assert relay.clients == 2  # stop asked them to close; handlers unregister themselves
    assert isinstance(await slow.next(), Close)


@pytest.mark.anyio
async def test_close_clients_waits_for_handlers_to_leave() -> None:
    relay = EventRelay(MemoryControlBus(), RelaySettings())
    queue = relay.register(SubscriptionSpec())
    left = anyio.Event()

    async def handler() -> None:
        while not isinstance(await queue.next(), Close):
            pass
        relay.unregister(queue)
        left.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(handler)
        await relay.close_clients(grace=10)
        assert left.is_set() and relay.clients == 0
    late = relay.register(SubscriptionSpec())  # after shutdown began: closed at once
    assert isinstance(await late.next(), Close)


def test_token_bucket_allows_rate_with_burst() -> None:
    bucket = TokenBucket(2.0, now=100.0)
    assert [bucket.take(now=100.0) for _ in range(3)][:2] == [True, True]
    assert not bucket.take(now=100.0)
    assert bucket.take(now=100.5)
    assert not bucket.take(now=100.5)
