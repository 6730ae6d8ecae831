"""PostgreSQL-specific store behaviour: migrations, and several processes on one database.

Two ``PostgresStore`` instances on the same schema have separate pools, exactly like two
processes; the tests run them concurrently.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable

import anyio
import asyncpg
import pytest

from app.contracts.events import EVENT_SOURCE_WORLDSERVICE, REBALANCING_PLANNED, new_event
from app.errors import AppError, ConfigError
from app.store.adapters.postgres import PostgresStore
from app.store.adapters.postgres_migrations import MIGRATIONS
from app.store.ports import AllocationDecision, AllocationRecord, AllocationRun, StoredPlan
from tests.services import unique_name
from tests.store.postgres_support import TestPostgresStore, drop_schema, make_postgres_store

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

Decide = Callable[[AllocationRun | None, dict[str, AllocationRecord]], AllocationDecision]


@pytest.fixture
async def pair() -> AsyncIterator[tuple[PostgresStore, PostgresStore]]:
    """Two started stores ("processes") sharing one fresh schema."""
    first = make_postgres_store()
    second = TestPostgresStore(first.dsn, pool_size=4, schema=first.schema)
    second.keep_schema = True
    await first.start()
    await second.start()
    try:
        yield first, second
    finally:
        await second.close()
        await first.close()


async def save(store: PostgresStore, run_id: str, worlds: int = 2) -> None:
    events = [
        new_event(REBALANCING_PLANNED, EVENT_SOURCE_WORLDSERVICE, {"i": i}) for i in range(worlds)
    ]
    plan = StoredPlan(
        run_id=run_id, request_hash="h", schema_version=1,
        world_ids=[f"w{i}" for i in range(worlds)], response=b"{}",
        event_ids=[e.id for e in events], created_at=time.time(),
    )
    await store.save_plan(plan, events)


async def test_migrations_run_once_and_newer_schema_is_refused() -> None:
    store = make_postgres_store()
    store.keep_schema = True
    await store.start()
    await store.close()
    await store.start()  # a current schema is left alone
    await store.close()
    assert store.schema is not None
    conn = await asyncpg.connect(store.dsn, server_settings={"search_path": store.schema})
    try:
        versions = await conn.fetch("SELECT version FROM schema_version ORDER BY version")
        assert [r[0] for r in versions] == list(range(1, len(MIGRATIONS) + 1))
        await conn.execute("INSERT INTO schema_version (version) VALUES ($1)", len(MIGRATIONS) + 1)
    finally:
        await conn.close()
    with pytest.raises(ConfigError, match="newer"):
        await store.start()
    await drop_schema(store.dsn, store.schema)


async def test_unreachable_server_is_503_and_ping_false() -> None:
    store = PostgresStore(
        "postgresql://postgres@127.0.0.1:1/test", schema=unique_name("wg"), connect_timeout=1.0
    )
    assert await store.ping() is False
    with pytest.raises(AppError) as info:
        await store.start()
    assert info.value.status == 503 and info.value.code == "E_STORE_UNAVAILABLE"


async def test_two_processes_never_lose_an_allocation_update(
    pair: tuple[PostgresStore, PostgresStore],
) -> None:
    rounds = 10

    def increment(run_id: str) -> Decide:
        def decide(
            existing: AllocationRun | None, records: dict[str, AllocationRecord]
        ) -> AllocationDecision:
            old = records["shared"].allocation if "shared" in records else 0
            record = AllocationRecord(
                world_id="shared", allocation=old + 1, run_id=run_id, etag=run_id,
                strategy_alloc_total=None, updated_at=time.time(),
            )
            run = AllocationRun(
                run_id=run_id, request_hash="h", etag=run_id, world_ids=["shared"],
                response=b"{}", created_at=time.time(),
            )
            return AllocationDecision(run=run, records=[record], events=[])

        return decide

    async def worker(store: PostgresStore, name: str) -> None:
        for i in range(rounds):
            await store.apply_allocations(f"{name}-{i}", ["shared"], increment(f"{name}-{i}"))

    async with anyio.create_task_group() as tg:
        for n, store in enumerate(pair * 2):  # two tasks per "process"
            tg.start_soon(worker, store, f"p{n}")
    records = await pair[0].get_allocations(["shared"])
    assert records["shared"].allocation == 4 * rounds


async def test_publishers_in_two_processes_never_claim_one_event_twice(
    pair: tuple[PostgresStore, PostgresStore],
) -> None:
    for i in range(20):
        await save(pair[i % 2], f"r{i}", worlds=5)  # 100 events
    claimed: dict[str, list[int]] = {}

    async def publisher(store: PostgresStore, owner: str) -> None:
        mine = claimed.setdefault(owner, [])
        while batch := await store.claim_unpublished(7, 60.0, owner):
            mine.extend(e.seq for e in batch)
            await store.mark_published([e.seq for e in batch], owner)

    async with anyio.create_task_group() as tg:
        for n in range(4):
            tg.start_soon(publisher, pair[n % 2], f"pub{n}")
    every = [seq for seqs in claimed.values() for seq in seqs]
    assert len(every) == 100 and len(set(every)) == 100
    assert await pair[0].outbox_backlog() == 0


async def test_events_become_visible_in_seq_order_across_processes(
    pair: tuple[PostgresStore, PostgresStore],
) -> None:
    """A reader following ``events_since(cursor)`` while two processes append misses nothing."""
    writers_done = anyio.Event()
    seen: list[int] = []

    async def writer(store: PostgresStore, name: str) -> None:
        for i in range(25):
            await save(store, f"{name}-{i}", worlds=2)

    async def follower() -> None:
        cursor = 0
        while True:
            done = writers_done.is_set()
            batch = await pair[0].events_since(cursor, None, 1_000)
            seen.extend(e.seq for e in batch)
            cursor = batch[-1].seq if batch else cursor
            if done and not batch:
                return
            await anyio.sleep(0.001)

    async with anyio.create_task_group() as tg:
        tg.start_soon(follower)
        async with anyio.create_task_group() as writers:
            for n, store in enumerate(pair * 2):
                writers.start_soon(writer, store, f"w{n}")
        writers_done.set()
    everything = [e.seq for e in await pair[0].events_since(0, None, 1_000)]
    assert len(everything) == 200
    assert seen == everything  # nothing skipped by the cursor, nothing twice


async def test_store_recovers_when_its_connections_are_dropped() -> None:
    """A server restart or network blip kills the pooled connections: the store reconnects."""
    base = make_postgres_store()
    name = unique_name("wgapp")
    store = TestPostgresStore(f"{base.dsn}?application_name={name}", schema=base.schema)
    await store.start()
    try:
        await save(store, "before")
        conn = await asyncpg.connect(base.dsn)
        try:
            killed = await conn.fetch(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = $1",
                name,
            )
        finally:
            await conn.close()
        assert killed
        with anyio.fail_after(10):
            while True:
                try:
                    await save(store, "after")
                    break
                except AppError as exc:  # at most a 503 while the pool notices
                    assert exc.status == 503
                    await anyio.sleep(0.05)
        assert await store.get_plan("before") is not None
        assert await store.get_plan("after") is not None
    finally:
        await store.close()


async def test_executions_of_a_version_1_schema_are_listed_after_the_upgrade() -> None:
    store = make_postgres_store()
    assert store.schema is not None
    conn = await asyncpg.connect(store.dsn)
    try:
        await conn.execute(f'CREATE SCHEMA "{store.schema}"')
        await conn.execute(f'SET search_path TO "{store.schema}"')
        await conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY,"
                           " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
        for statement in MIGRATIONS[0]:
            await conn.execute(statement)
        await conn.execute("INSERT INTO schema_version (version) VALUES (1)")
        await conn.executemany(
            "INSERT INTO executions (execution_id, request_hash, response, batch_ids,"
            " world_ids, created_at) VALUES ($1, 'h', '\\x7b7d', '[]', $2, 1.0)",
            [("old-1", '["a", "b"]'), ("old-2", '["b"]')],
        )
    finally:
        await conn.close()
    await store.start()
    try:
        every = await store.list_executions(None, 10)
        only_a = await store.list_executions("a", 10)
    finally:
        await store.close()
    assert sorted(e.execution_id for e in every.executions) == ["old-1", "old-2"]
    assert [e.execution_id for e in only_a.executions] == ["old-1"]


async def test_a_queued_grouped_write_is_bounded_by_the_statement_timeout() -> None:
    # A write that waits in the group-commit queue past ``statement_timeout`` (here: behind
    # a batch that holds the lock) answers 503 without being run, within its bound.
    fresh = make_postgres_store()  # only for its DSN and a fresh schema
    store = TestPostgresStore(fresh.dsn, pool_size=2, schema=fresh.schema,
                              statement_timeout=0.5)
    await store.start()
    try:
        event = new_event(REBALANCING_PLANNED, EVENT_SOURCE_WORLDSERVICE, {"world_id": "w"})
        plan = StoredPlan(run_id="late", request_hash="h", schema_version=1, world_ids=["w"],
                          response=b"{}", event_ids=[event.id], created_at=time.time())
        outcome: list[BaseException] = []

        async def save() -> None:
            try:
                await store.save_plan(plan, [event])
            except AppError as exc:
                outcome.append(exc)

        await store._writes.lock.acquire()  # a batch that takes longer than the bound
        started = time.monotonic()
        async with anyio.create_task_group() as tg:
            tg.start_soon(save)
            await anyio.sleep(0.6)
            store._writes.lock.release()
        assert time.monotonic() - started < 2.0
        assert len(outcome) == 1 and getattr(outcome[0], "status", None) == 503
        assert await store.get_plan("late") is None
        assert await store.outbox_backlog() == 0
    finally:
        await store.close()
