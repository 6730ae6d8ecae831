"""SQLite-specific store behaviour: file placement, migrations, durability across reopen."""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from pathlib import Path

import pytest

from app.contracts.events import EVENT_SOURCE_WORLDSERVICE, REBALANCING_PLANNED, new_event
from app.errors import AppError, ConfigError
from app.store.adapters.sqlite import SqliteStore
from app.store.adapters.sqlite_migrations import MIGRATIONS
from app.store.ports import ExecutionRecord, StoredPlan

pytestmark = pytest.mark.anyio


async def test_start_creates_folder_and_migrates(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "db.sqlite3"
    store = SqliteStore(path)
    await store.start()
    await store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


async def test_data_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    event = new_event(REBALANCING_PLANNED, EVENT_SOURCE_WORLDSERVICE, {"w": 1}, subject="w")
    plan = StoredPlan(
        run_id="r", request_hash="h", schema_version=2, world_ids=["w"], response=b"{}",
        event_ids=[event.id], created_at=time.time(),
    )
    first = SqliteStore(path)
    await first.start()
    await first.save_plan(plan, [event])
    await first.close()
    second = SqliteStore(path)
    await second.start()  # migrations are not re-run on a current database
    assert await second.get_plan("r") == plan
    (logged,) = await second.claim_unpublished(10, 30.0, "after-restart")
    assert logged.event.id == event.id
    await second.close()


async def test_newer_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.close()
    with pytest.raises(ConfigError, match="newer"):
        await SqliteStore(path).start()


async def test_calls_before_start_are_503_and_ping_false(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "db.sqlite3")
    assert await store.ping() is False
    with pytest.raises(AppError) as info:
        await store.get_plan("r")
    assert info.value.status == 503 and info.value.code == "E_STORE_UNAVAILABLE"


async def test_executions_of_a_version_1_database_are_listed_after_the_upgrade(
    tmp_path: Path,
) -> None:
    db = tmp_path / "old.sqlite3"
    with closing(sqlite3.connect(db)) as conn:
        for statement in MIGRATIONS[0]:
            conn.execute(statement)
        conn.executemany(
            "INSERT INTO executions (execution_id, request_hash, response, batch_ids,"
            " world_ids, created_at) VALUES (?, 'h', x'7b7d', '[]', ?, 1.0)",
            [("old-1", '["a", "b"]'), ("old-2", '["b"]')],
        )
        conn.execute("PRAGMA user_version = 1")
        conn.commit()
    store = SqliteStore(db)
    await store.start()
    try:
        every = await store.list_executions(None, 10)
        only_a = await store.list_executions("a", 10)
        await store.save_execution(ExecutionRecord(
            execution_id="new-1", request_hash="h", response=b"{}", batch_ids=[],
            world_ids=["a"], created_at=2.0), [])
        after = await store.list_executions("a", 10)
    finally:
        await store.close()
    assert [e.execution_id for e in every.executions] == ["old-2", "old-1"]
    assert [e.execution_id for e in only_a.executions] == ["old-1"]
    assert [e.execution_id for e in after.executions] == ["new-1", "old-1"]
