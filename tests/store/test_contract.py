"""The Store contract, run against every adapter in ``conftest.STORE_FACTORIES``."""

from __future__ import annotations

import time
from collections.abc import Callable
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
from app.contracts.risk import TradingStateRecord, default_state, state_etag
from app.errors import AppError, ConflictError
from app.store.ports import (
    AllocationDecision,
    AllocationRecord,
    AllocationRun,
    ExecutionRecord,
    StateDecision,
    Store,
    StoredPlan,
    StoredPreview,
)

pytestmark = pytest.mark.anyio


def planned(world: str, **data: object) -> CloudEvent:
    return new_event(
        REBALANCING_PLANNED, EVENT_SOURCE_WORLDSERVICE, {"world_id": world, **data}, subject=world
    )


def plan(
    run_id: str, worlds: list[str], events: list[CloudEvent], body: bytes = b"{}"
) -> StoredPlan:
    return StoredPlan(
        run_id=run_id,
        request_hash=f"hash-{run_id}",
        schema_version=1,
        world_ids=worlds,
        response=body,
        event_ids=[e.id for e in events],
        created_at=time.time(),
    )


async def save(store: Store, run_id: str, worlds: list[str]) -> list[CloudEvent]:
    events = [planned(w, run_id=run_id) for w in worlds]
    stored, inserted = await store.save_plan(plan(run_id, worlds, events), events)
    assert inserted
    return events


# -- plans ----------------------------------------------------------------------------------


async def test_save_plan_is_idempotent_by_run_id(store: Store) -> None:
    events = [planned("w1"), planned("w2")]
    original = plan("r1", ["w1", "w2"], events, body=b'{"answer":1}')
    assert await store.save_plan(original, events) == (original, True)
    retry_events = [planned("w1")]
    again, inserted = await store.save_plan(
        plan("r1", ["w1"], retry_events, body=b'{"answer":2}'), retry_events
    )
    assert inserted is False
    assert again == original
    assert await store.get_plan("r1") == original
    logged = await store.events_since(0, None, 100)
    assert [e.event.id for e in logged] == [e.id for e in events]


async def test_get_plan_unknown_is_none(store: Store) -> None:
    assert await store.get_plan("nope") is None


async def test_failed_save_writes_neither_record_nor_events(store: Store) -> None:
    first = planned("w1")
    duplicate = planned("w2")
    duplicate = CloudEvent(**{**_fields(duplicate), "id": first.id})  # event ids are unique
    with pytest.raises(AppError) as info:
        await store.save_plan(plan("r1", ["w1", "w2"], [first, duplicate]), [first, duplicate])
    assert info.value.status == 503
    assert await store.get_plan("r1") is None
    assert await store.events_since(0, None, 10) == []
    assert await store.outbox_backlog() == 0
    # The store still works afterwards.
    await save(store, "r2", ["w1"])
    assert (await store.get_plan("r2")) is not None


def _fields(event: CloudEvent) -> dict[str, object]:
    return {f: getattr(event, f) for f in event.__struct_fields__}


async def test_list_plans_newest_first_with_world_filter_and_limit(store: Store) -> None:
    await save(store, "r1", ["a", "b"])
    await save(store, "r2", ["b"])
    await save(store, "r3", ["c"])
    await save(store, "r4", ["a"])
    assert [p.run_id for p in (await store.list_plans(None, 10)).plans] == [
        "r4", "r3", "r2", "r1"]
    assert [p.run_id for p in (await store.list_plans("a", 10)).plans] == ["r4", "r1"]
    assert [p.run_id for p in (await store.list_plans("b", 1)).plans] == ["r2"]
    assert (await store.list_plans("zzz", 10)).plans == []
    first = (await store.list_plans("c", 1)).plans[0]
    assert first.world_ids == ["c"] and len(first.event_ids) == 1


async def _all_pages(list_page: Any, world_id: str | None, limit: int) -> list[list[str]]:
    pages: list[list[str]] = []
    before = None
    while True:
        page = await list_page(world_id, limit, before)
        items = page.plans if hasattr(page, "plans") else page.executions
        pages.append([getattr(i, "run_id", None) or i.execution_id for i in items])
        if page.next is None:
            return pages
        before = page.next


async def test_plan_pages_follow_their_cursor_and_stay_stable(store: Store) -> None:
    for i in range(7):
        await save(store, f"r{i}", ["a"] if i % 2 == 0 else ["a", "b"])
    assert await _all_pages(store.list_plans, None, 3) == [
        ["r6", "r5", "r4"], ["r3", "r2", "r1"], ["r0"]]
    assert await _all_pages(store.list_plans, "b", 2) == [["r5", "r3"], ["r1"]]
    exact = await store.list_plans(None, 7)
    assert len(exact.plans) == 7 and exact.next is None  # no empty last page
    first = await store.list_plans(None, 2)
    await save(store, "r7", ["a"])  # a newer plan does not move the next page
    later = await store.list_plans(None, 2, first.next)
    assert [p.run_id for p in later.plans] == ["r4", "r3"]


# -- event log --------------------------------------------------------------------------------


async def test_events_come_back_in_seq_order_with_their_seq(store: Store) -> None:
    events = await save(store, "r1", ["w1", "w2", "w3"])
    execution = ExecutionRecord(
        execution_id="x1", request_hash="h", response=b"{}", batch_ids=["b1"],
        world_ids=["w1"], created_at=time.time(),
    )
    order = new_event(REBALANCING_ORDERS, EVENT_SOURCE_GATEWAY, {"batch_id": "b1"})
    await store.save_execution(execution, [order])
    logged = await store.events_since(0, None, 100)
    seqs = [e.seq for e in logged]
    assert seqs == sorted(seqs) and len(set(seqs)) == 4
    assert all(e.event.seq == e.seq for e in logged)
    assert [e.event.id for e in logged] == [*(e.id for e in events), order.id]
    assert logged[0].event.data == events[0].data and logged[0].event.subject == "w1"
    assert [e.topic for e in logged] == [REBALANCING_PLANNED] * 3 + [REBALANCING_ORDERS]
    # Topic filter and the lower bound.
    only_orders = await store.events_since(0, [REBALANCING_ORDERS], 100)
    assert [e.event.id for e in only_orders] == [order.id]
    after = await store.events_since(seqs[1], None, 100)
    assert [e.seq for e in after] == seqs[2:]
    assert [e.seq for e in await store.events_since(0, None, 2)] == seqs[:2]
    assert await store.retained_range() == (seqs[0], seqs[-1])


async def test_retained_range_of_empty_log(store: Store) -> None:
    assert await store.retained_range() == (0, 0)


async def test_claims_lease_and_mark_published(store: Store) -> None:
    await save(store, "r1", ["w1", "w2", "w3", "w4"])
    assert await store.outbox_backlog() == 4
    claimed = await store.claim_unpublished(3, 60.0, "pub-a")
    assert len(claimed) == 3
    seqs = [e.seq for e in claimed]
    assert seqs == sorted(seqs)
    # A second publisher gets only what is not leased.
    other = await store.claim_unpublished(10, 60.0, "pub-b")
    assert len(other) == 1 and other[0].seq > seqs[-1]
    await store.mark_published(seqs[:2], "pub-a")
    assert await store.outbox_backlog() == 2
    # The lease holder may re-claim its own unpublished event (a retry after a bus error).
    assert [e.seq for e in await store.claim_unpublished(10, 60.0, "pub-a")] == [seqs[2]]
    published = await store.events_since(0, None, 10)
    assert [e.published_at is not None for e in published] == [True, True, False, False]


async def test_expired_lease_is_claimable_again(store: Store) -> None:
    await save(store, "r1", ["w1", "w2"])
    dead = await store.claim_unpublished(10, 0.0, "dead-publisher")  # lease already over
    assert len(dead) == 2
    taken = await store.claim_unpublished(10, 60.0, "live-publisher")
    assert [e.event.id for e in taken] == [e.event.id for e in dead]
    await store.mark_published([e.seq for e in taken], "live-publisher")
    assert await store.claim_unpublished(10, 60.0, "third") == []
    assert await store.outbox_backlog() == 0


async def test_prune_keeps_unpublished_and_the_latest(store: Store) -> None:
    await save(store, "r1", [f"w{i}" for i in range(6)])
    logged = await store.events_since(0, None, 100)
    seqs = [e.seq for e in logged]
    await store.mark_published(seqs[:4], "p")  # the last two stay unpublished
    dropped = await store.prune_events(max_count=3, max_age_seconds=1e9)
    # Beyond the newest 3 only published events go: seqs[0..2]; seqs[3] is inside the 3.
    assert dropped == 3
    assert [e.seq for e in await store.events_since(0, None, 100)] == seqs[3:]
    # By age: everything published is old, but unpublished events always stay.
    await store.mark_published([seqs[4]], "p")
    assert await store.prune_events(max_count=1000, max_age_seconds=1e-9) == 2
    assert [e.seq for e in await store.events_since(0, None, 100)] == [seqs[5]]
    assert await store.retained_range() == (seqs[5], seqs[5])


async def test_latest_event_survives_pruning(store: Store) -> None:
    await save(store, "r1", ["w1", "w2"])
    seqs = [e.seq for e in await store.events_since(0, None, 10)]
    await store.mark_published(seqs, "p")
    await store.prune_events(max_count=1, max_age_seconds=1e-9)
    assert await store.retained_range() == (seqs[-1], seqs[-1])


# -- allocations ------------------------------------------------------------------------------


Decide = Callable[[AllocationRun | None, dict[str, AllocationRecord]], AllocationDecision]


def _counting_decide(run_id: str, seen: list[tuple[str, dict[str, AllocationRecord]]]) -> Decide:
    """A decide that adds 0.1 to every world's allocation (a read-modify-write)."""

    def decide(
        existing: AllocationRun | None, records: dict[str, AllocationRecord]
    ) -> AllocationDecision:
        seen.append((run_id, dict(records)))
        if existing is not None:
            return AllocationDecision(run=existing, records=[], events=[])
        now = time.time()
        worlds = ["a", "b"] if run_id.startswith("ab") else ["b", "c"]
        updated = [
            AllocationRecord(
                world_id=w,
                allocation=round((records[w].allocation if w in records else 0.0) + 0.1, 6),
                run_id=run_id, etag=f"etag-{run_id}", strategy_alloc_total={"s": 0.1},
                updated_at=now,
            )
            for w in worlds
        ]
        run = AllocationRun(
            run_id=run_id, request_hash=f"h-{run_id}", etag=f"etag-{run_id}", world_ids=worlds,
            response=b"{}", created_at=now,
        )
        return AllocationDecision(run=run, records=updated, events=[planned(w) for w in worlds])

    return decide


async def test_allocation_pages_in_world_order(store: Store) -> None:
    worlds = ["w5", "w1", "w4", "w2", "w3"]

    def decide(existing: AllocationRun | None,
               records: dict[str, AllocationRecord]) -> AllocationDecision:
        now = time.time()
        run = AllocationRun(run_id="pages", request_hash="h", etag="e", world_ids=worlds,
                            response=b"{}", created_at=now)
        return AllocationDecision(run=run, events=[], records=[
            AllocationRecord(world_id=w, allocation=0.1, run_id="pages", etag="e",
                             strategy_alloc_total=None, updated_at=now) for w in worlds])

    await store.apply_allocations("pages", worlds, decide)
    first = await store.list_allocations(2)
    second = await store.list_allocations(2, first.next)
    last = await store.list_allocations(2, second.next)
    assert [r.world_id for r in first.records] == ["w1", "w2"] and first.next == "w2"
    assert [r.world_id for r in second.records] == ["w3", "w4"]
    assert [r.world_id for r in last.records] == ["w5"] and last.next is None
    assert (await store.list_allocations(5)).next is None
    assert (await store.list_allocations(3, "w9")).records == []


async def test_apply_allocations_writes_run_records_and_events(store: Store) -> None:
    seen: list[tuple[str, dict[str, AllocationRecord]]] = []
    run, written = await store.apply_allocations("ab1", ["a", "b"], _counting_decide("ab1", seen))
    assert written and run.run_id == "ab1"
    assert await store.get_allocation_run("ab1") == run
    records = await store.get_allocations()
    assert sorted(records) == ["a", "b"]
    assert records["a"].allocation == 0.1 and records["a"].strategy_alloc_total == {"s": 0.1}
    assert await store.get_allocations(["b", "zzz"]) == {"b": records["b"]}
    assert await store.outbox_backlog() == 2
    # Retry: decide returns the stored run, nothing is written.
    again, written = await store.apply_allocations("ab1", ["a", "b"], _counting_decide("ab1", seen))
    assert (again, written) == (run, False)
    assert await store.outbox_backlog() == 2
    assert (await store.get_allocations())["a"].allocation == 0.1


async def test_decide_that_raises_writes_nothing(store: Store) -> None:
    def refuse(
        existing: AllocationRun | None, records: dict[str, AllocationRecord]
    ) -> AllocationDecision:
        raise ConflictError("stale etag", code="E_ETAG_MISMATCH")

    with pytest.raises(ConflictError):
        await store.apply_allocations("r", ["a"], refuse)
    assert await store.get_allocation_run("r") is None
    assert await store.get_allocations() == {}
    assert await store.outbox_backlog() == 0


async def test_concurrent_allocation_upserts_are_serialised(store: Store) -> None:
    seen: list[tuple[str, dict[str, AllocationRecord]]] = []
    async with anyio.create_task_group() as tg:
        for run_id in ("ab-1", "bc-2", "ab-3", "bc-4"):
            tg.start_soon(
                store.apply_allocations,
                run_id,
                ["a", "b"] if run_id.startswith("ab") else ["b", "c"],
                _counting_decide(run_id, seen),
            )
    records = await store.get_allocations()
    # World b was touched by all four upserts: no increment was lost.
    assert records["b"].allocation == 0.4
    assert records["a"].allocation == 0.2 and records["c"].allocation == 0.2
    # Each decide saw the state the previous upsert left behind (they ran one at a time).
    for i, (_, before) in enumerate(seen):
        b = before.get("b")
        assert (b.allocation if b else 0.0) == round(0.1 * i, 6)
        if i:
            assert b is not None and b.run_id == seen[i - 1][0]
    assert records["b"].run_id == seen[-1][0]


# -- executions -------------------------------------------------------------------------------


async def test_execution_pages_newest_first_with_world_filter(store: Store) -> None:
    for i in range(5):
        worlds = ["w1", "w2"] if i % 2 else ["w1"]
        await store.save_execution(ExecutionRecord(
            execution_id=f"x{i}", request_hash="h", response=b"{}",
            batch_ids=[f"x{i}-{n}" for n in range(len(worlds))], world_ids=worlds,
            created_at=time.time()), [])
    assert await _all_pages(store.list_executions, None, 2) == [
        ["x4", "x3"], ["x2", "x1"], ["x0"]]
    assert await _all_pages(store.list_executions, "w2", 1) == [["x3"], ["x1"]]
    assert (await store.list_executions("nope", 5)).executions == []
    page = await store.list_executions(None, 1)
    assert page.executions[0] == await store.get_execution("x4")


async def test_executions_are_saved_once(store: Store) -> None:
    execution = ExecutionRecord(
        execution_id="x1", request_hash="h1", response=b'{"ok":true}',
        batch_ids=["b1", "b2"], world_ids=["w1", "w2"], created_at=time.time(),
    )
    events = [new_event(REBALANCING_ORDERS, EVENT_SOURCE_GATEWAY, {"b": i}) for i in range(2)]
    assert await store.save_execution(execution, events) == (execution, True)
    assert await store.get_execution("x1") == execution
    assert await store.get_execution("x2") is None
    twin = ExecutionRecord(**{**{f: getattr(execution, f) for f in execution.__struct_fields__},
                              "response": b'{"twin":true}'})
    again = await store.save_execution(twin, [new_event(REBALANCING_ORDERS, "s", {})])
    assert again == (execution, False)  # the stored one, not the twin
    assert await store.outbox_backlog() == 2
    changed = ExecutionRecord(**{**{f: getattr(execution, f) for f in execution.__struct_fields__},
                                 "request_hash": "h2"})
    with pytest.raises(ConflictError):
        await store.save_execution(changed, [])


async def test_concurrent_twin_executions_are_saved_once(store: Store) -> None:
    results: list[tuple[ExecutionRecord, bool]] = []

    async def save(i: int) -> None:
        record = ExecutionRecord(
            execution_id="twin", request_hash="h", response=f'{{"n":{i}}}'.encode(),
            batch_ids=["b"], world_ids=["w"], created_at=time.time(),
        )
        event = new_event(REBALANCING_ORDERS, EVENT_SOURCE_GATEWAY, {"n": i})
        results.append(await store.save_execution(record, [event]))

    async with anyio.create_task_group() as tg:
        for i in range(20):
            tg.start_soon(save, i)
    assert [inserted for _, inserted in results].count(True) == 1
    assert len({stored.response for stored, _ in results}) == 1
    assert await store.outbox_backlog() == 1


async def test_ping(store: Store) -> None:
    assert await store.ping() is True


async def test_write_probe(store: Store) -> None:
    assert await store.probe_write() is True
    assert await store.probe_write() is True  # it rewrites one row, whatever ran before
    assert await store.outbox_backlog() == 0  # and touches no event


# -- trading states ---------------------------------------------------------------------------


def _set(state: str, reason: str = "why", actor: str = "token:abc") -> Callable[..., Any]:
    """A decide that sets ``state`` (the pure part of a state change)."""
    from app.contracts.events import RISK_STATE_CHANGED

    def decide(current: TradingStateRecord) -> StateDecision:
        version = current.version + 1
        now = time.time()
        record = TradingStateRecord(
            scope=current.scope, world_id=current.world_id, state=state,  # type: ignore[arg-type]
            reason=reason, actor=actor, updated_at=now, version=version,
            etag=state_etag(current.scope, current.world_id, version, state, now),
        )
        event = new_event(
            RISK_STATE_CHANGED, EVENT_SOURCE_GATEWAY, {"state": state, "previous": current.state},
            subject=current.world_id or None,
        )
        return StateDecision(record=record, event=event)

    return decide


async def test_states_default_to_active_with_stable_etags(store: Store) -> None:
    states = await store.get_risk_states()
    assert states.global_state == default_state("global")
    assert states.global_state.state == "ACTIVE" and states.global_state.version == 0
    assert states.worlds == {}
    assert states.of("w1") == default_state("world", "w1")
    assert default_state("world", "w1").etag != default_state("world", "w2").etag


async def test_set_state_writes_record_history_and_event(store: Store) -> None:
    halted = await store.set_risk_state("world", "w1", _set("HALTED", "drill"))
    assert halted.state == "HALTED" and halted.version == 1
    await store.set_risk_state("global", "", _set("REDUCING", "incident"))
    resumed = await store.set_risk_state("world", "w1", _set("ACTIVE", "done"))
    assert resumed.version == 2 and resumed.etag != halted.etag
    states = await store.get_risk_states()
    assert states.global_state.state == "REDUCING" and states.global_state.reason == "incident"
    assert states.worlds == {"w1": resumed}
    assert (await store.get_risk_states(["w9"])).worlds == {}
    assert (await store.get_risk_states(["w1", "w9"])).worlds == {"w1": resumed}
    # History: newest first, with the previous state; filtered by scope and world; paged.
    history = await store.risk_history(None, None, 10, None)
    assert [(h.scope, h.world_id, h.previous_state, h.state) for h in history] == [
        ("world", "w1", "HALTED", "ACTIVE"),
        ("global", "", "ACTIVE", "REDUCING"),
        ("world", "w1", "ACTIVE", "HALTED"),
    ]
    assert history[0].seq > history[1].seq > history[2].seq
    assert [h.reason for h in history] == ["done", "incident", "drill"]
    assert [h.state for h in await store.risk_history("world", "w1", 10, None)] == [
        "ACTIVE", "HALTED"
    ]
    assert [h.state for h in await store.risk_history("global", None, 10, None)] == ["REDUCING"]
    assert await store.risk_history("world", "w2", 10, None) == []
    page = await store.risk_history(None, None, 1, history[0].seq)
    assert [h.seq for h in page] == [history[1].seq]
    # Each change queued its event in the same transaction, on the topic ``risk``.
    logged = await store.events_since(0, None, 10)
    assert [e.topic for e in logged] == ["risk"] * 3
    assert [e.event.id for e in logged] == [h.event_id for h in reversed(history)]
    assert [e.event.id for e in await store.events_since(0, ["risk"], 10)] == [
        e.event.id for e in logged
    ]


async def test_a_refused_state_change_writes_nothing(store: Store) -> None:
    def refuse(current: TradingStateRecord) -> StateDecision:
        raise ConflictError("stale etag")

    with pytest.raises(ConflictError):
        await store.set_risk_state("world", "w1", refuse)
    assert (await store.get_risk_states()).worlds == {}
    assert await store.risk_history(None, None, 10, None) == []
    assert await store.outbox_backlog() == 0


async def test_concurrent_state_changes_are_serialised(store: Store) -> None:
    seen: list[int] = []

    def bump(current: TradingStateRecord) -> StateDecision:
        seen.append(current.version)
        return _set("HALTED" if current.version % 2 else "REDUCING")(current)

    async with anyio.create_task_group() as tg:
        for _ in range(6):
            tg.start_soon(store.set_risk_state, "global", "", bump)
    assert sorted(seen) == list(range(6))  # each change saw the one before it
    assert (await store.get_risk_states()).global_state.version == 6
    assert len(await store.risk_history("global", None, 100, None)) == 6


# -- order-rate buckets and previews ------------------------------------------------------


async def test_token_buckets_take_peek_and_all_or_nothing(store: Store) -> None:
    rate = 600.0  # ten a second: the refill during the test is a fraction of a token
    assert await store.peek_order_tokens(["a", "b"], rate) == {"a": 600, "b": 600}
    assert await store.take_order_tokens({"a": 590, "b": 0}, rate, all_or_nothing=False) == {
        "a": 590, "b": 0
    }
    peeked = await store.peek_order_tokens(["a"], rate)
    assert 10 <= peeked["a"] < 600
    # All or nothing: b could, a cannot: nobody gets anything and nothing is taken.
    got = await store.take_order_tokens({"a": 500, "b": 5}, rate, all_or_nothing=True)
    assert got == {"a": 0, "b": 0}
    assert (await store.peek_order_tokens(["b"], rate))["b"] == 600
    # Partial: a gets what it holds.
    partial = await store.take_order_tokens({"a": 500, "b": 5}, rate, all_or_nothing=False)
    assert 10 <= partial["a"] < 500 and partial["b"] == 5
    assert await store.take_order_tokens({}, rate, all_or_nothing=True) == {}


async def test_concurrent_token_takes_never_overdraw(store: Store) -> None:
    granted: list[int] = []
    rate = 20.0  # a bucket of 20, refilled by one token every 3 seconds

    async def take() -> None:
        got = await store.take_order_tokens({"w": 7}, rate, all_or_nothing=False)
        granted.append(got["w"])

    started = time.monotonic()
    async with anyio.create_task_group() as tg:
        for _ in range(5):
            tg.start_soon(take)
    refilled = int((time.monotonic() - started) * rate / 60.0) + 1
    # 35 asked of a full bucket: all 20 handed out, each token once (plus what refilled).
    assert 20 <= sum(granted) <= 20 + refilled


async def test_previews_are_saved_read_and_pruned_after_expiry(store: Store) -> None:
    now = time.time()

    def preview(execution_id: str, expires_at: float) -> StoredPreview:
        return StoredPreview(
            execution_id=execution_id, request_hash="h", etag=f"etag-{execution_id}",
            response=b'{"state":"previewed"}', basis=b"\x93\x01\x02\x03", created_at=now,
            expires_at=expires_at,
        )

    old = preview("p-old", now - 100.0)
    await store.save_preview(old, prune_before=now - 1000.0)
    assert await store.get_preview("p-old") == old
    fresh = preview("p-new", now + 300.0)
    await store.save_preview(fresh, prune_before=now - 50.0)  # p-old expired before that
    assert await store.get_preview("p-old") is None
    assert await store.get_preview("p-new") == fresh
    assert await store.get_preview("nope") is None
