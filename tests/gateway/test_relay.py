"""Tests of the relay loop and client queues over the real in-memory ControlBus."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import anyio.lowlevel
import msgspec
import pytest

from app.contracts.events import REBALANCING_ORDERS, REBALANCING_PLANNED
from app.controlbus.adapters.memory import MemoryControlBus
from app.gateway.event_views import EventFrame, SubscriptionSpec
from app.gateway.events_ws import TokenBucket
from app.gateway.relay import ClientQueue, Close, EventRelay, GapMarker, LagMarker, Resubscribe
from app.settings import RelaySettings
from app.store.adapters.sqlite import SqliteStore
from app.store.ports import ExecutionRecord
from tests.gateway.events_ws_support import orders_event, planned_event


def _frame(world: str, seq: int | None) -> EventFrame:
    return EventFrame(msgspec.structs.replace(planned_event(world), seq=seq))


async def _drain(queue: ClientQueue, n: int) -> list[object]:
    """The next ``n`` things the writer would send (a batch counts one per event)."""
    out: list[object] = []
    while len(out) < n:
        item = await queue.next()
        out.extend(item if isinstance(item, list) else [item])
    return out


def _seq(text: object) -> int:
    assert isinstance(text, bytes)
    seq = msgspec.json.decode(text)["seq"]
    assert isinstance(seq, int)
    return seq


@pytest.fixture
async def sqlite_log(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(tmp_path / "log.sqlite3")
    await store.start()
    try:
        yield store
    finally:
        await store.close()


@pytest.mark.anyio
async def test_queue_starts_with_its_subscription_then_events() -> None:
    queue = ClientQueue(SubscriptionSpec(world_ids=frozenset({"a"})), capacity=10)
    queue.offer(_frame("b", 1))
    queue.offer(_frame("a", 2))
    first, second = await _drain(queue, 2)
    assert isinstance(first, Resubscribe)
    assert _seq(second) == 2


@pytest.mark.anyio
async def test_full_queue_records_one_lag_marker_with_the_gap() -> None:
    queue = ClientQueue(SubscriptionSpec(), capacity=2)
    await queue.next()  # the initial Resubscribe
    for seq in range(1, 7):
        queue.offer(_frame("a", seq))
    items = await _drain(queue, 3)
    assert [_seq(i) for i in items[:2]] == [1, 2]
    marker = items[2]
    assert isinstance(marker, LagMarker)
    assert marker.frame() == {"type": "lagged", "missed_from": 3, "missed_to": 6, "count": 4}
    assert queue.dropped == 4
    queue.offer(_frame("a", 7))  # room again: later events follow the marker
    (after,) = await _drain(queue, 1)
    assert _seq(after) == 7


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
    assert _seq(items[1]) == 5


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
    assert isinstance(items[1], bytes)
    assert f'"type":"{REBALANCING_ORDERS}"'.encode() in items[1]


async def _texts(queue: ClientQueue, n: int) -> list[dict[str, object]]:
    """The next ``n`` event messages of ``queue``, decoded (control items skipped)."""
    out: list[dict[str, object]] = []
    with anyio.fail_after(10):
        while len(out) < n:
            item = await queue.next()
            if isinstance(item, list):
                out.extend(msgspec.json.decode(text) for text in item)
    return out


def _execution(n: int) -> ExecutionRecord:
    return ExecutionRecord(
        execution_id=f"x{n}", request_hash="h", response=b"{}", batch_ids=[], world_ids=[],
        created_at=0.0,
    )


@pytest.mark.anyio
async def test_bus_only_events_fan_out_deduped_and_never_block_on_a_full_client(
    sqlite_log: SqliteStore,
) -> None:
    bus = MemoryControlBus()
    relay = EventRelay(bus, sqlite_log, RelaySettings(client_buffer=1), close_grace=0.01)
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
                (got,) = await _texts(fast, 1)
                received.append(str(got["id"]))
            await bus.publish(REBALANCING_PLANNED, end := planned_event("end"))
            (got,) = await _texts(fast, 1)
            assert got["id"] == end.id
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
async def test_stored_events_go_out_in_seq_order_once_whatever_the_bus_says(
    sqlite_log: SqliteStore,
) -> None:
    bus = MemoryControlBus()
    relay = EventRelay(bus, sqlite_log, RelaySettings(poll_interval=60), close_grace=0.01)
    await sqlite_log.save_execution(_execution(0), [planned_event("before")])
    await relay.start()
    try:
        queue = relay.register(SubscriptionSpec())
        await queue.next()
        await sqlite_log.save_execution(_execution(1), [planned_event(f"w{i}") for i in range(4)])
        await sqlite_log.save_execution(_execution(2), [orders_event("w9")])
        stored = await sqlite_log.events_since(1, None, 100)
        # The bus delivers late, out of order and twice: only a wake-up for the relay.
        for item in (stored[3], stored[0], stored[3], stored[4], stored[1]):
            await bus.publish(item.topic, item.event)
        got = await _texts(queue, 5)
        assert [m["seq"] for m in got] == [2, 3, 4, 5, 6]  # "before" (seq 1) was not live
        assert [m["id"] for m in got] == [s.event.id for s in stored]
        with anyio.move_on_after(0.1):
            pytest.fail(f"nothing more expected, got {await queue.next()!r}")
        assert relay.relayed == 5 and relay.head == 6
    finally:
        await relay.close()


@pytest.mark.anyio
async def test_stored_events_arrive_without_any_bus_message(sqlite_log: SqliteStore) -> None:
    relay = EventRelay(
        MemoryControlBus(), sqlite_log, RelaySettings(poll_interval=0.02), close_grace=0.01
    )
    await relay.start()
    try:
        queue = relay.register(SubscriptionSpec(world_ids=frozenset({"a"})))
        await queue.next()
        await sqlite_log.save_execution(_execution(1), [planned_event("b"), planned_event("a")])
        (got,) = await _texts(queue, 1)  # found by the poll (the bus is down, say)
        assert got["seq"] == 2
    finally:
        await relay.close()


@pytest.mark.anyio
async def test_events_pruned_before_the_relay_read_them_become_a_gap(
    sqlite_log: SqliteStore,
) -> None:
    relay = EventRelay(
        MemoryControlBus(), sqlite_log, RelaySettings(poll_interval=60), close_grace=0.01
    )
    await relay.start()
    try:
        queue = relay.register(SubscriptionSpec())
        await queue.next()
        await sqlite_log.save_execution(_execution(1), [planned_event(f"w{i}") for i in range(5)])
        claimed = await sqlite_log.claim_unpublished(100, 30.0, "test")
        await sqlite_log.mark_published([c.seq for c in claimed], "test")
        assert await sqlite_log.prune_events(2, 3600.0) == 3  # seq 1..3 gone, unread
        relay.wake()
        with anyio.fail_after(10):
            gap = await queue.next()
        assert isinstance(gap, GapMarker)
        assert gap.frame() == {"type": "gap", "missed_from": 1, "missed_to": 3,
                               "reason": "retention"}
        assert [m["seq"] for m in await _texts(queue, 2)] == [4, 5]
    finally:
        await relay.close()


@pytest.mark.anyio
async def test_queue_is_bounded_by_bytes_too() -> None:
    queue = ClientQueue(SubscriptionSpec(), capacity=1_000, max_bytes=5_000)
    await queue.next()
    big = [_frame("a", seq) for seq in range(1, 11)]
    for frame in big:
        frame.event = msgspec.structs.replace(
            frame.event, data={**frame.event.data, "pad": "x" * 2_000}  # type: ignore[dict-item]
        )
    for frame in big:
        queue.offer(frame)
    assert len(queue) == 2 and queue.queued_bytes <= 5_000
    batch = await queue.next()
    assert isinstance(batch, list) and [_seq(t) for t in batch] == [1, 2]
    queue.offer(big[0])  # the batch being sent still counts until the writer asks again
    assert queue.dropped == 9
    marker = await queue.next()  # the batch was sent: its bytes no longer count
    assert isinstance(marker, LagMarker) and marker.count == 9
    huge = _frame("a", 11)
    huge.event = msgspec.structs.replace(
        huge.event, data={**huge.event.data, "pad": "y" * 20_000}  # type: ignore[dict-item]
    )
    queue.offer(huge)  # larger than the bound, but alone: sent rather than lost
    queue.offer(_frame("a", 12))  # no room behind it
    assert [_seq(t) for t in await _drain(queue, 1)] == [11]
    assert queue.dropped == 10


@pytest.mark.anyio
async def test_close_clients_waits_for_handlers_to_leave(sqlite_log: SqliteStore) -> None:
    relay = EventRelay(MemoryControlBus(), sqlite_log, RelaySettings())
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


@pytest.mark.anyio
async def test_client_queues_take_their_bounds_from_the_settings(sqlite_log: SqliteStore) -> None:
    settings = RelaySettings(client_buffer=7, client_buffer_bytes=1234)
    queue = EventRelay(MemoryControlBus(), sqlite_log, settings).register(SubscriptionSpec())
    assert (queue.capacity, queue.max_bytes) == (7, 1234)
