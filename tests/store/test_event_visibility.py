"""The property the WebSocket relay stands on, for every store adapter: events become visible
in ``seq`` order, so a reader following ``events_since(head)`` while many writers append at
once never later finds an event with a smaller ``seq`` than one it already read."""

from __future__ import annotations

import time

import anyio
import anyio.lowlevel
import pytest

from app.contracts.events import EVENT_SOURCE_GATEWAY, REBALANCING_ORDERS, new_event
from app.store.ports import ExecutionRecord, Store

pytestmark = pytest.mark.anyio

WRITERS = 8
WRITES = 40  # per writer


def _execution(execution_id: str) -> ExecutionRecord:
    return ExecutionRecord(
        execution_id=execution_id, request_hash="h", response=b"{}", batch_ids=[],
        world_ids=[], created_at=time.time(),
    )


async def test_a_follower_of_the_log_sees_every_event_once_in_order(store: Store) -> None:
    seen: list[int] = []
    done = anyio.Event()

    async def writer(w: int) -> None:
        for n in range(WRITES):
            events = [new_event(REBALANCING_ORDERS, EVENT_SOURCE_GATEWAY, {"w": w, "n": n, "i": i})
                      for i in range(1 + (w + n) % 3)]
            await store.save_execution(_execution(f"x{w}-{n}"), events)

    async def follower() -> None:
        head = 0
        while True:
            finished = done.is_set()  # read before the query: its answer then has everything
            batch = await store.events_since(head, None, 50)
            for item in batch:
                seen.append(item.seq)
                head = item.seq
            if finished and not batch:
                return
            await anyio.lowlevel.checkpoint()

    with anyio.fail_after(50):
        async with anyio.create_task_group() as tg:
            tg.start_soon(follower)
            async with anyio.create_task_group() as writers:
                for w in range(WRITERS):
                    writers.start_soon(writer, w)
            done.set()
    logged = [item.seq for item in await store.events_since(0, None, 100_000)]
    assert len(logged) == sum(1 + (w + n) % 3 for w in range(WRITERS) for n in range(WRITES))
    # A smaller seq committed after a larger one was read would be missing here.
    assert seen == logged
