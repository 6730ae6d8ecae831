"""``store.single_owner``: the store has one owner process; a second one refuses to start,
naming the file (or schema) and the owner. Off (the default), processes share the store."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import anyio
import pytest

from app.errors import StoreInUseError
from app.store.adapters.postgres import PostgresStore
from app.store.adapters.sqlite import SqliteStore
from app.store.adapters.sqlite_lock import lock_path_of
from app.testing import ServerProcess, settings_env
from tests.services import postgres_dsn, unique_name
from tests.store.postgres_support import drop_schema

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]


def _holder(db: Path) -> subprocess.Popen[str]:
    """Another process that owns ``db`` until its stdin closes."""
    code = textwrap.dedent(f"""
        import sys
        from app.store.adapters.sqlite_lock import StoreLock
        lock = StoreLock({str(db)!r})
        lock.acquire()
        print("held", flush=True)
        sys.stdin.read()
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def _release(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.close()
    proc.wait(10)
    proc.stdout.close()


async def test_a_second_process_is_refused_naming_the_file_and_pid(tmp_path: Path) -> None:
    db = tmp_path / "owned.sqlite3"
    holder = _holder(db)
    try:
        store = SqliteStore(db, single_owner=True)
        with pytest.raises(StoreInUseError) as refused:
            await store.start()
        message = str(refused.value)
        assert str(db) in message and f"process {holder.pid} " in message
        assert str(lock_path_of(db)) in message
    finally:
        _release(holder)
    store = SqliteStore(db, single_owner=True)  # the kernel dropped the lock: free again
    await store.start()
    await store.close()


async def test_stores_of_one_process_share_the_ownership(tmp_path: Path) -> None:
    db = tmp_path / "shared.sqlite3"
    first, second = SqliteStore(db, single_owner=True), SqliteStore(db, single_owner=True)
    await first.start()
    await second.start()
    await first.close()
    other = await anyio.run_process(  # still owned by this process while `second` is open
        [sys.executable, "-c", "from app.store.adapters.sqlite_lock import StoreLock; "
         f"StoreLock({str(db)!r}).acquire()"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)
    assert other.returncode != 0 and b"StoreInUseError" in other.stderr
    await second.close()


def test_second_server_on_one_file_refuses_to_start(tmp_path: Path) -> None:
    db = tmp_path / "run.sqlite3"
    env = settings_env({"store": {"sqlite_path": str(db), "single_owner": True},
                        "server": {"log_level": "warning"}})
    first = ServerProcess(env, log_path=tmp_path / "first.log")
    first.start()
    try:
        first.wait_ready()
        second = ServerProcess(env, log_path=tmp_path / "second.log")
        second.start()
        assert second.proc is not None
        code = second.proc.wait(30)
        second.stop()
        log = (tmp_path / "second.log").read_text()
        assert code == 2, log
        assert f"configuration error: the SQLite store {db} is in use by process " \
               f"{first.proc.pid if first.proc else '?'} " in log
        assert "store.sqlite_path" in log and "store.single_owner" in log
    finally:
        first.stop()
    # Once the owner has stopped, the file is free for the next one.
    third = ServerProcess(env, log_path=tmp_path / "third.log")
    third.start()
    try:
        third.wait_ready()
    finally:
        third.stop()


@pytest.mark.postgres
async def test_postgres_with_the_memory_bus_has_one_owner() -> None:
    dsn, schema = postgres_dsn(), unique_name("wgowner")
    first = PostgresStore(dsn, pool_size=2, schema=schema, exclusive=True)
    second = PostgresStore(dsn, pool_size=2, schema=schema, exclusive=True)
    shared = PostgresStore(dsn, pool_size=2, schema=schema)  # a Redis-bus process: no lock
    try:
        await first.start()
        with pytest.raises(StoreInUseError) as refused:
            await second.start()
        assert f"pid={os.getpid()} host=" in str(refused.value)
        assert schema in str(refused.value) and "store.single_owner" in str(refused.value)
        await shared.start()
        await shared.close()
        await first.close()  # the owner leaves: the next one may start
        await second.start()
        await second.close()
    finally:
        await first.close()
        await drop_schema(dsn, schema)


async def test_without_single_owner_processes_share_the_file(tmp_path: Path) -> None:
    db = tmp_path / "shared.sqlite3"
    holder = _holder(db)  # another process holds the lock file...
    try:
        store = SqliteStore(db)  # ...which a store without single_owner never asks for
        await store.start()
        await store.close()
    finally:
        _release(holder)
