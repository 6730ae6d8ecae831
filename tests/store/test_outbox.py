"""The outbox publisher: stored events reach the bus once started, nudged, retried, flushed."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from app.contracts.events import (
    EVENT_SOURCE_WORLDSERVICE,
    REBALANCING_PLANNED,
    CloudEvent,
    new_event,
)
from app.controlbus.adapters.memory import MemoryControlBus
from app.controlbus.ports import BusEnvelope
from app.errors import ServiceUnavailableError
from app.store.adapters.sqlite import SqliteStore
from app.store.outbox import OutboxPublisher
from app.store.ports import StoredPlan
from tests.controlbus.bus_support import receive

pytestmark = pytest.mark.anyio



class FlakyBus(MemoryControlBus):
    """A real in-memory bus whose first ``failures`` publishes fail like a lost connection."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    async def publish(self, topic: str, event: CloudEvent) -> BusEnvelope:
        if self.failures > 0:
            self.failures -= 1
            raise ServiceUnavailableError("bus down", code="E_CONTROLBUS_UNAVAILABLE")
        return await super().publish(topic, event)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    instance = SqliteStore(tmp_path / "outbox.sqlite3")
    await instance.start()
    yield instance
    await instance.close()


async def save(store: SqliteStore, run_id: str, worlds: list[str]) -> list[CloudEvent]:
    events = [
        new_event(REBALANCING_PLANNED, EVENT_SOURCE_WORLDSERVICE, {"world_id": w}, subject=w)
        for w in worlds
    ]
    plan = StoredPlan(
        run_id=run_id, request_hash="h", schema_version=1, world_ids=worlds, response=b"{}",
        event_ids=[e.id for e in events], created_at=time.time(),
    )
    await store.save_plan(plan, events)
    return events


async def test_start_publishes_what_was_stored_before(store: SqliteStore) -> None:
    events = await save(store, "r1", ["a", "b", "c"])
    bus = MemoryControlBus()
    publisher = OutboxPublisher(store, bus, poll_interval=3600)
    async with bus.subscribe([REBALANCING_PLANNED]) as sub:
        await publisher.start()
        got = await receive(sub, 3)
        await publisher.close()
    assert [e.event.id for e in got] == [e.id for e in events]
    assert all(e.event.seq is not None for e in got)
    assert await store.outbox_backlog() == 0


async def test_nudge_wakes_the_publisher(store: SqliteStore) -> None:
    bus = MemoryControlBus()
    publisher = OutboxPublisher(store, bus, poll_interval=3600)  # it would never poll again
    async with bus.subscribe([REBALANCING_PLANNED]) as sub:
        await publisher.start()
        await anyio.wait_all_tasks_blocked()  # the first (empty) round is done
        events = await save(store, "r1", ["a"])
        publisher.nudge()
        got = await receive(sub, 1)
        await publisher.close()
    assert got[0].event.id == events[0].id


async def test_bus_failure_keeps_rows_and_retries(store: SqliteStore) -> None:
    events = await save(store, "r1", ["a", "b"])
    bus = FlakyBus(failures=3)
    publisher = OutboxPublisher(store, bus, poll_interval=0.01)
    async with bus.subscribe([REBALANCING_PLANNED]) as sub:
        await publisher.start()
        got = await receive(sub, 2)
        await publisher.close()
    assert bus.failures == 0
    assert [e.event.id for e in got] == [e.id for e in events]
    assert await store.outbox_backlog() == 0


async def test_failed_publish_leaves_row_unpublished(store: SqliteStore) -> None:
    await save(store, "r1", ["a", "b"])
    publisher = OutboxPublisher(store, FlakyBus(failures=1))
    with pytest.raises(ServiceUnavailableError):
        await publisher.publish_pending()
    assert await store.outbox_backlog() == 2
    assert await publisher.publish_pending() == 2
    assert await store.outbox_backlog() == 0


async def test_stop_flushes_what_is_left(store: SqliteStore) -> None:
    bus = MemoryControlBus()
    publisher = OutboxPublisher(store, bus, poll_interval=3600, batch_size=2)
    async with bus.subscribe([REBALANCING_PLANNED]) as sub:
        await publisher.start()
        await anyio.wait_all_tasks_blocked()
        events = await save(store, "r1", ["a", "b", "c", "d", "e"])  # nobody nudges
        await publisher.close()
        got = await receive(sub, 5)
    assert [e.event.id for e in got] == [e.id for e in events]
    assert await store.outbox_backlog() == 0


async def test_dead_publishers_rows_are_sent_again_with_the_same_ids(store: SqliteStore) -> None:
    events = await save(store, "r1", ["a"])
    # A publisher claimed the row, published it and died before marking it (lease over).
    (claimed,) = await store.claim_unpublished(10, 0.0, "dead")
    bus = MemoryControlBus()
    publisher = OutboxPublisher(store, bus)
    async with bus.subscribe([REBALANCING_PLANNED]) as sub:
        await publisher.start()
        (again,) = await receive(sub, 1)
        await publisher.close()
    assert again.event.id == claimed.event.id == events[0].id
    assert again.event.seq == claimed.seq
