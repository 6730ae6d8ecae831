"""``WS /events`` delivers every stored event exactly once, in ``seq`` order, without gaps,
to clients that disconnect and resume at random while several processes publish.

Two ``worldgate serve`` processes apply plans concurrently (each with its own outbox and
relay) on PostgreSQL + Redis Streams, and on one SQLite file with each process's in-memory
bus; ten clients spread over both read, drop their connections and resume with ``since``.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import anyio.to_thread
import pytest

from app.contracts.events import DEFAULT_TOPICS
from app.store.adapters.postgres import PostgresStore
from app.store.adapters.sqlite import SqliteStore
from app.store.ports import Store
from tests.integration.cluster import Node, create_schema, drop_scaleout, scaleout_env
from tests.integration.exactly_once import LogRow, Subscriber, log_rows, run_scenario
from tests.services import postgres_dsn, redis_url, unique_name

# Two server processes and a few thousand events: a longer guard than the 60 s default on
# a loaded 2-core machine (it takes 15-30 s there).
pytestmark = [pytest.mark.anyio, pytest.mark.multiprocess, pytest.mark.timeout(150)]

TARGET_EVENTS = 3_000


async def _read_log(store: Store) -> list[LogRow]:
    await store.start()
    try:
        # The topics a client gets by default: each applied call's `audit_recorded` event is
        # in the log too, on the topic `audit` that clients only get by asking for it.
        return log_rows(await store.events_since(0, list(DEFAULT_TOPICS), 1_000_000))
    finally:
        await store.close()


def _assert_exactly_once(rows: list[LogRow], clients: list[Subscriber]) -> None:
    assert len(rows) >= TARGET_EVENTS
    assert [r.seq for r in rows] == sorted({r.seq for r in rows})
    for client in clients:
        expected = [(r.seq, r.event_id) for r in rows if client.wants(r)]
        assert client.problems == []
        seqs = [seq for seq, _ in client.received]
        assert all(a < b for a, b in zip(seqs, seqs[1:], strict=False)), "out of order"
        assert len(client.received) == len(set(client.received)), "duplicates"
        assert client.received == expected, "missed or foreign events"
        assert client.connections >= 4  # it really did resume, several times


async def _run_nodes(nodes: list[Node], store: Store) -> tuple[list[LogRow], list[Subscriber]]:
    try:
        for node in nodes:
            node.start()
        for node in nodes:
            await anyio.to_thread.run_sync(node.wait_ready)
        return await run_scenario(nodes, lambda: _read_log(store), target_events=TARGET_EVENTS)
    finally:
        for node in nodes:
            await anyio.to_thread.run_sync(node.stop)


@pytest.mark.redis
@pytest.mark.postgres
async def test_exactly_once_in_order_with_two_processes_on_postgres_and_redis(
    tmp_path: Path,
) -> None:
    redis, dsn = redis_url(), postgres_dsn()
    schema, prefix = unique_name("wgtest"), unique_name("wgtest")
    schema_dsn = await create_schema(dsn, schema)
    env = scaleout_env(redis, prefix, schema_dsn)
    nodes = [Node(f"node{i}", ["worldservice", "gateway"], env, tmp_path) for i in (1, 2)]
    try:
        rows, clients = await _run_nodes(nodes, PostgresStore(schema_dsn, pool_size=2))
    finally:
        await drop_scaleout(dsn, schema, redis, prefix)
    _assert_exactly_once(rows, clients)


async def test_exactly_once_in_order_with_two_processes_on_one_sqlite_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "shared.sqlite3"
    env = {
        "WORLDGATE__STORE__SQLITE_PATH": str(path),
        # Each process has its own in-memory bus: the other's events are found by polling.
        "WORLDGATE__GATEWAY__RELAY__POLL_INTERVAL": "0.2",
    }
    nodes = [Node(f"node{i}", ["worldservice", "gateway"], env, tmp_path) for i in (1, 2)]
    rows, clients = await _run_nodes(nodes, SqliteStore(path))
    _assert_exactly_once(rows, clients)
