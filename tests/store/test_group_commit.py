"""Group commit (issue 14): concurrent writes share one transaction and one commit, and each
caller still gets its own answer. Run against every adapter in ``conftest.STORE_FACTORIES``."""

from __future__ import annotations

import time
from typing import Any

import anyio
import pytest

from app.contracts.events import (
    EVENT_SOURCE_GATEWAY,
    EVENT_SOURCE_WORLDSERVICE,
    REBALANCING_ORDERS,
    REBALANCING_PLANNED,
    CloudEvent,
    new_event,
)
from app.errors import AppError, ConflictError
from app.store.ports import ExecutionRecord, Store, StoredPlan

pytestmark = pytest.mark.anyio

CALLERS = 16


def _planned(run_id: str, world: str) -> CloudEvent:
    return new_event(
        REBALANCING_PLANNED, EVENT_SOURCE_WORLDSERVICE, {"world_id": world, "run_id": run_id},
        subject=world,
    )


def _plan(run_id: str, events: list[CloudEvent], request_hash: str | None = None) -> StoredPlan:
    return StoredPlan(
        run_id=run_id,
        request_hash=request_hash or f"hash-{run_id}",
        schema_version=1,
        world_ids=[str(e.data["world_id"]) for e in events],
        response=f'{{"run":"{run_id}"}}'.encode(),
        event_ids=[e.id for e in events],
        created_at=time.time(),
    )


def _execution(execution_id: str, request_hash: str) -> ExecutionRecord:
    return ExecutionRecord(
        execution_id=execution_id, request_hash=request_hash, response=b"{}",
        batch_ids=["b"], world_ids=["w"], created_at=time.time(),
    )


def _commits(store: Store) -> int:
    commits: int = getattr(store, "commits")  # noqa: B009 - adapter counter, not in the port
    return commits


async def test_concurrent_applies_share_commits_and_each_gets_its_own_answer(
    store: Store,
) -> None:
    # Stored before: a replay (same run_id) and a conflicting execution join the batch.
    first_events = [_planned("stored", "w0")]
    stored_plan = _plan("stored", first_events)
    await store.save_plan(stored_plan, first_events)
    await store.save_execution(_execution("x-stored", "h1"), [])
    before = _commits(store)

    answers: dict[str, Any] = {}
    sent: dict[str, list[CloudEvent]] = {}

    async def apply(i: int) -> None:
        run_id = f"run-{i}"
        events = [_planned(run_id, f"w{i}-{k}") for k in range(3)]
        sent[run_id] = events
        answers[run_id] = await store.save_plan(_plan(run_id, events), events)

    async def replay() -> None:
        events = [_planned("stored", "w9")]
        answers["replay"] = await store.save_plan(_plan("stored", events), events)

    async def conflict() -> None:
        try:
            await store.save_execution(
                _execution("x-stored", "h2"),
                [new_event(REBALANCING_ORDERS, EVENT_SOURCE_GATEWAY, {"lost": True})],
            )
        except ConflictError as exc:
            answers["conflict"] = exc

    async def broken() -> None:  # writes a plan, then fails on a duplicate event id
        good = _planned("broken", "wb")
        twin = CloudEvent(**{**{f: getattr(good, f) for f in good.__struct_fields__},
                             "subject": "other"})
        try:
            await store.save_plan(_plan("broken", [good, twin]), [good, twin])
        except AppError as exc:
            answers["broken"] = exc

    async with anyio.create_task_group() as tg:
        for i in range(CALLERS):
            tg.start_soon(apply, i)
            if i == CALLERS // 2:
                tg.start_soon(replay)
                tg.start_soon(conflict)
                tg.start_soon(broken)

    writes = CALLERS + 3
    assert _commits(store) - before < writes  # batched: fewer commits than writes
    for i in range(CALLERS):
        run_id = f"run-{i}"
        stored, inserted = answers[run_id]
        assert inserted is True
        assert stored.run_id == run_id
        assert await store.get_plan(run_id) == stored
    assert answers["replay"] == (stored_plan, False)  # the stored answer, nothing written
    assert isinstance(answers["conflict"], ConflictError)
    assert answers["conflict"].status == 409
    assert isinstance(answers["broken"], AppError)
    assert answers["broken"].status == 503
    assert await store.get_plan("broken") is None  # its savepoint was rolled back

    logged = await store.events_since(0, None, 1000)
    seqs = [e.seq for e in logged]
    assert seqs == sorted(seqs)
    ids = [e.event.id for e in logged]
    expected = {e.id for events in sent.values() for e in events} | {first_events[0].id}
    assert set(ids) == expected and len(ids) == len(expected)  # no loss, no duplicate
    for events in sent.values():  # each apply's events are contiguous, in its own order
        where = [ids.index(e.id) for e in events]
        assert where == list(range(where[0], where[0] + len(events)))


async def test_a_lone_write_commits_alone(store: Store) -> None:
    before = _commits(store)
    events = [_planned("solo", "w1")]
    stored, inserted = await store.save_plan(_plan("solo", events), events)
    assert inserted and stored.run_id == "solo"
    assert _commits(store) - before == 1


async def test_concurrent_same_run_id_is_stored_once(store: Store) -> None:
    results: list[tuple[StoredPlan, bool]] = []

    async def apply(i: int) -> None:
        events = [_planned("same", f"w{i}")]
        results.append(await store.save_plan(_plan("same", events), events))

    async with anyio.create_task_group() as tg:
        for i in range(CALLERS):
            tg.start_soon(apply, i)
    assert [inserted for _, inserted in results].count(True) == 1
    assert len({stored.world_ids[0] for stored, _ in results}) == 1  # all see the winner
    assert await store.outbox_backlog() == 1


async def test_cancelled_waiter_does_not_break_the_others(store: Store) -> None:
    done: list[str] = []

    async def apply(run_id: str) -> None:
        events = [_planned(run_id, "w")]
        await store.save_plan(_plan(run_id, events), events)
        done.append(run_id)

    async with anyio.create_task_group() as tg:
        for i in range(8):
            tg.start_soon(apply, f"ok-{i}")
        with anyio.CancelScope() as scope:
            scope.cancel()
            await apply("cancelled")
    assert sorted(done) == sorted(f"ok-{i}" for i in range(8))
    for i in range(8):
        assert await store.get_plan(f"ok-{i}") is not None
