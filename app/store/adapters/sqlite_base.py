"""Connections and transactions of the SQLite store (the shared base of its parts).

Writes are group-committed on the single writer connection. A write call queues its work
and waits for the writer lock; whoever takes the lock first (the leader) takes every queued
write, runs them in one ``BEGIN IMMEDIATE`` transaction, each inside its own savepoint (a
write that raises, such as a refused decision or a conflict, rolls back to its savepoint
and gets its own error while the others go on), then commits once and hands every caller
its own result or error. Callers whose writes a leader already committed find them done
when they get the lock. ``synchronous=FULL`` makes that one commit durable (one fsync)
before any of its callers returns, so every acknowledged write survives a crash or power
loss, as with one transaction per call; writes queued while a commit is syncing share the
next one. Other processes on the same file wait on SQLite's own lock. Reads use their own
connection and see the last committed state.

Inside a batch the writes run in queue order, each seeing the ones before it (a second
write with the same idempotency key finds the first, as if it came after its commit), and
events get their ``seq`` in that order: the log's order is the commit order.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread
import msgspec
import structlog

from app.contracts.events import CloudEvent, topic_of
from app.errors import AppError, Code, ServiceUnavailableError
from app.runtime.lifecycle import Component
from app.store.adapters.group_commit import Job, WriteQueue
from app.store.adapters.rows import encode_event
from app.store.adapters.sqlite_lock import StoreLock
from app.store.adapters.sqlite_migrations import migrate

__all__ = ["SqliteBase"]

log = structlog.get_logger(__name__)
T = TypeVar("T")

#: The most writes one commit holds (the rest wait for the next leader).
def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


class SqliteBase(Component):
    """Lifecycle, the writer/reader connections and the transaction helpers.

    Args:
        path: the database file; its folder is created on ``start``.
        clock: the wall clock in seconds (tests may pass their own).
        single_owner: refuse to start while another process has the file (a lock on
            ``<file>.lock``); off, several processes may share it.
    """

    def __init__(
        self, path: str | Path, *, clock: Callable[[], float] = time.time,
        single_owner: bool = False,
    ) -> None:
        self.path = Path(path)
        self._clock = clock
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._writes: WriteQueue[Callable[[sqlite3.Connection], Any]] = WriteQueue(
            self._commit_batch)
        #: Commits of the writer connection (batches), and the writes they held.
        self.commits = 0
        self.batched_writes = 0
        self._read_lock = anyio.Lock()
        self._owner = StoreLock(self.path) if single_owner else None

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Create the folder, take ownership of the file, open it and run the migrations.

        Raises:
            StoreInUseError: ``single_owner`` and another process owns the file (see
                ``sqlite_lock``).
            ServiceUnavailableError: the file cannot be created or opened.
        """
        if self._writer is not None:
            return

        def open_all() -> tuple[sqlite3.Connection, sqlite3.Connection]:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self._owner is not None:
                self._owner.acquire()
            try:
                writer = _connect(str(self.path))
            except BaseException:
                self._release_owner()
                raise
            try:
                migrate(writer)
                return writer, _connect(str(self.path))
            except BaseException:
                writer.close()
                self._release_owner()
                raise

        try:
            self._writer, self._reader = await anyio.to_thread.run_sync(open_all)
        except (sqlite3.Error, OSError) as exc:
            raise self._unavailable(exc) from exc
        log.info("store_started", backend="sqlite", path=str(self.path))

    async def close(self) -> None:
        """Close the connections once running calls have finished."""
        async with self._writes.lock, self._read_lock:
            for conn in (self._writer, self._reader):
                if conn is not None:
                    conn.close()
            if self._writer is not None:
                self._release_owner()
            self._writer = self._reader = None

    async def ping(self) -> bool:
        """Return True when a trivial query answers."""
        try:
            return await self._read(lambda c: c.execute("SELECT 1").fetchone()[0] == 1)
        except AppError:
            return False

    async def probe_write(self) -> bool:
        """Return True when a write transaction commits (one row of ``write_probe``)."""
        now = self._clock()
        try:
            await self._write(
                lambda c: c.execute(
                    "INSERT OR REPLACE INTO write_probe (id, checked_at) VALUES (1, ?)", (now,)
                ),
                durable=False,
            )
        except AppError:
            return False
        return True

    # -- internals -----------------------------------------------------------------------

    def _release_owner(self) -> None:
        if self._owner is not None:
            self._owner.release()

    def _insert_events(self, conn: sqlite3.Connection, events: Sequence[CloudEvent]) -> None:
        """Append ``events`` to the log inside the caller's transaction."""
        now = self._clock()
        conn.executemany(
            "INSERT INTO events (event_id, topic, body, created_at) VALUES (?, ?, ?, ?)",
            [(e.id, topic_of(e.type), encode_event(e), now) for e in events],
        )

    def _unavailable(self, exc: BaseException) -> ServiceUnavailableError:
        log.error("store_error", backend="sqlite", error=str(exc), error_type=type(exc).__name__)
        return ServiceUnavailableError(
            "The record store is unavailable; nothing was stored.", code=Code.STORE_UNAVAILABLE
        )

    def _conn(self, conn: sqlite3.Connection | None) -> sqlite3.Connection:
        if conn is None:
            raise ServiceUnavailableError(
                "The record store is not started.", code=Code.STORE_UNAVAILABLE
            )
        return conn

    async def _write(self, fn: Callable[[sqlite3.Connection], T], *, durable: bool = True) -> T:
        """Run ``fn`` in a write transaction, group-committed with the writes queued beside it.

        ``fn`` runs inside a savepoint: if it raises, only its own changes are rolled back and
        the error is raised to this caller alone. Returns once the commit holding ``fn`` is
        done (durable unless every write of the batch is ``durable=False``).

        ``durable=False`` (outbox bookkeeping: leases, published marks) lets a batch made
        only of such writes skip the fsync of its commit. WAL keeps commits in order, so the
        next durable commit syncs it too; a crash can only forget a lease or a mark, which
        re-sends an event (at-least-once), never loses a record.
        """
        job = await self._writes.submit(Job(fn, durable=durable))
        if job.error is not None:
            error = job.error
            if isinstance(error, sqlite3.Error | msgspec.DecodeError):
                raise self._unavailable(error) from error
            raise error
        result: T = job.result
        return result

    async def _commit_batch(self, batch: list[Job[Callable[[sqlite3.Connection], Any]]]) -> None:
        """Run ``batch`` in one transaction and one commit; resolve every job."""
        try:
            conn = self._conn(self._writer)
        except ServiceUnavailableError as exc:
            for job in batch:
                job.error, job.done = exc, True
            return
        durable = any(job.durable for job in batch)

        def transaction() -> None:
            if not durable:
                conn.execute("PRAGMA synchronous=NORMAL")
            try:
                run_batch()
            finally:
                if not durable:
                    conn.execute("PRAGMA synchronous=FULL")

        def run_batch() -> None:
            try:
                conn.execute("BEGIN IMMEDIATE")
                for job in batch:
                    conn.execute("SAVEPOINT write")
                    try:
                        job.result = job.fn(conn)
                    except Exception as exc:  # this write only: undo it, keep the others
                        job.error = exc
                        if not conn.in_transaction:  # SQLite rolled the whole batch back
                            raise
                        conn.execute("ROLLBACK TO write")
                    conn.execute("RELEASE write")
                conn.execute("COMMIT")
            except BaseException as exc:
                # The transaction is lost: every write of it, done or not, failed with it.
                for job in batch:
                    if job.error is None:
                        job.error, job.result = exc, None
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if not isinstance(exc, Exception):
                    raise
            finally:
                for job in batch:
                    job.done = True

        try:
            # Shielded: the batch holds other callers' writes, so the leader's cancellation
            # must not abandon it half-way (the thread would run to its end anyway).
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(transaction)
        except sqlite3.Error as exc:  # the rollback or the pragma failed: all jobs failed
            for job in batch:
                if job.error is None:
                    job.error, job.result = exc, None
                job.done = True
        self.commits += 1
        self.batched_writes += len(batch)

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        async with self._read_lock:
            conn = self._conn(self._reader)
            return await self._run(conn, fn, "BEGIN")

    async def _run(
        self, conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T], begin: str
    ) -> T:
        def run() -> T:
            conn.execute(begin)
            try:
                result = fn(conn)
                conn.execute("COMMIT")
                return result
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

        try:
            return await anyio.to_thread.run_sync(run)
        except sqlite3.Error as exc:
            raise self._unavailable(exc) from exc
        except msgspec.DecodeError as exc:
            raise self._unavailable(exc) from exc
