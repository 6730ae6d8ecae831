"""The asyncpg pool and transaction helpers of the PostgreSQL store (its parts' base).

Every write is one transaction on a pooled connection; a commit returns once PostgreSQL has
made it durable. Several processes share the database:

* event ``seq`` values come from an identity column, and every transaction that appends
  events takes the transaction-level advisory lock ``EVENT_APPEND_LOCK`` just before its
  inserts, so events become visible in ``seq`` order (a reader resuming after ``seq`` n can
  never later find a smaller, late-committed seq). It holds because the identity draws its
  values (cache 1) only after the lock is taken, and PostgreSQL releases transaction locks
  only after the commit is visible to new snapshots; the WebSocket relay follows the log on
  this property, and ``tests/store/test_event_visibility.py`` fails without the lock;
* times used across processes (leases, ``created_at`` / ``published_at`` of events) are the
  database's clock, not each host's.

Because of that lock, transactions that append events commit one after another, each with
its own WAL flush: PostgreSQL's own grouping of concurrent commits cannot merge them. So the
writes that append events on the hot path (applied plans, executions, audit records) are
group-committed here (``_grouped``): a call queues its work and waits for the batch lock;
the first to get it (the leader) takes every queued write, runs them on one connection in
one transaction that takes ``EVENT_APPEND_LOCK`` first (so a batch never waits for it while
holding rows another batch wants), each write inside its own savepoint (one that raises,
e.g. a conflict, is rolled back alone and gets its own error), commits once (one WAL
flush) and hands every caller its own result or error. A call returns only after the commit
holding it, so durability is unchanged; writes run and get their ``seq`` in queue order.

Every store call is bounded: waiting for a connection by ``connect_timeout``, the whole call
(connection, statements, commit) by ``statement_timeout``, also sent to PostgreSQL as its
own ``statement_timeout``. A call past its bound answers 503 and its connection is
terminated, never handed back half-way through a conversation; a stalled server (packets
held, no reset) therefore costs a request at most ``statement_timeout`` seconds, and
``close`` at most ``close_timeout``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Final, TypeVar

import anyio
import asyncpg
import structlog

from app.contracts.events import CloudEvent, topic_of
from app.errors import Code, ServiceUnavailableError
from app.runtime.lifecycle import Component
from app.store.adapters.group_commit import Job, WriteQueue
from app.store.adapters.postgres_migrations import migrate
from app.store.adapters.postgres_owner import PostgresOwnership
from app.store.adapters.rows import encode_event

__all__ = ["DB_NOW", "EVENT_APPEND_LOCK", "PostgresBase"]

log = structlog.get_logger(__name__)
T = TypeVar("T")
_Write = Callable[[Any], Awaitable[Any]]

# The database clock in epoch seconds.
DB_NOW: Final = "EXTRACT(EPOCH FROM clock_timestamp())::float8"
# Advisory lock key serialising event appends ("WGEVENTS" in ASCII).
EVENT_APPEND_LOCK: Final = 0x57474556454E5453
_DB_ERRORS = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    # A connection the server dropped mid-conversation can surface as this one.
    asyncpg.exceptions.InternalClientError,
    OSError,
    TimeoutError,
)


# Errors after which a connection may be mid-conversation: never hand it back to the pool.
_LOST = (TimeoutError, OSError, asyncpg.InterfaceError, asyncpg.exceptions.InternalClientError)

#: The most writes one group commit holds (the rest wait for the next leader).
class PostgresBase(Component):
    """Lifecycle, the pool and the transaction helper.

    Args:
        dsn: the PostgreSQL connection string.
        pool_size: the largest number of pooled connections.
        schema: a schema to create (if missing) and work in; None = the DSN's search_path.
        connect_timeout: seconds a new connection (or a free pooled one) may take.
        statement_timeout: seconds one store call may take in all (503 beyond).
        close_timeout: seconds ``close`` waits for connections to close gracefully before
            it terminates them.
        exclusive: own the store alone (see ``postgres_owner``; ``store.single_owner``).
    """

    def __init__(
        self,
        dsn: str,
        *,
        pool_size: int = 10,
        schema: str | None = None,
        connect_timeout: float = 5.0,
        statement_timeout: float = 10.0,
        close_timeout: float = 2.0,
        exclusive: bool = False,
    ) -> None:
        self.dsn = dsn
        self.schema = schema
        self._pool_size = pool_size
        self._timeout = connect_timeout
        self._statement_timeout = statement_timeout
        self._close_timeout = close_timeout
        self._pool: Any = None
        self._writes: WriteQueue[_Write] = WriteQueue(self._commit_batch, shield=True)
        #: Group commits run, and the writes they held.
        self.commits = 0
        self.batched_writes = 0
        self._owner = PostgresOwnership(dsn, schema, connect_timeout) if exclusive else None

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Open the pool and run the migrations (taking the ownership first when exclusive).

        Raises:
            ServiceUnavailableError: PostgreSQL cannot be reached.
            ConfigError: the schema was written by a newer Worldgate.
            StoreInUseError: exclusive, and another process owns the store.
        """
        if self._pool is not None:
            return
        settings = {
            # The server gives up on a statement as the client does (milliseconds).
            "statement_timeout": str(max(1, int(self._statement_timeout * 1000))),
        }
        if self.schema:
            settings["search_path"] = self.schema
        try:
            if self.schema:
                conn = await asyncpg.connect(self.dsn, timeout=self._timeout)
                try:
                    await conn.execute(
                        f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"',
                        timeout=self._statement_timeout,
                    )
                finally:
                    conn.terminate()
            if self._owner is not None:
                await self._owner.acquire()
            with anyio.fail_after(self._timeout + self._statement_timeout):
                pool = await asyncpg.create_pool(
                    self.dsn,
                    min_size=1,
                    max_size=self._pool_size,
                    timeout=self._timeout,
                    command_timeout=self._statement_timeout,
                    server_settings=settings,
                )
        except _DB_ERRORS as exc:
            if self._owner is not None:
                await self._owner.release()
            raise self._unavailable(exc) from exc
        try:
            async with pool.acquire() as conn:
                version = await migrate(conn)
        except BaseException:
            await pool.close()
            if self._owner is not None:
                await self._owner.release()
            raise
        self._pool = pool
        log.info("store_started", backend="postgres", schema=self.schema, version=version)

    async def close(self) -> None:
        """Close the pool: gracefully within ``close_timeout``, else terminate it.

        Running calls are bounded by ``statement_timeout``; a server that stopped answering
        does not hold the shutdown beyond ``close_timeout``.
        """
        pool, self._pool = self._pool, None
        if pool is None:
            return
        with anyio.move_on_after(self._close_timeout) as scope:
            await pool.close()
        if scope.cancelled_caught:
            log.warning("store_close_timed_out", backend="postgres", seconds=self._close_timeout)
            pool.terminate()
        if self._owner is not None:
            await self._owner.release()

    async def ping(self) -> bool:
        """Return True when a trivial query answers."""
        try:
            async with self._connection() as conn:
                return bool(await conn.fetchval("SELECT 1") == 1)
        except ServiceUnavailableError:
            return False

    async def probe_write(self) -> bool:
        """Return True when a write transaction commits (one row of ``write_probe``)."""
        try:
            async with self._transaction() as conn:
                await conn.execute(
                    f"INSERT INTO write_probe (id, checked_at) VALUES (1, {DB_NOW})"
                    " ON CONFLICT (id) DO UPDATE SET checked_at = EXCLUDED.checked_at"
                )
        except ServiceUnavailableError:
            return False
        return True

    # -- internals -----------------------------------------------------------------------

    def _unavailable(self, exc: BaseException) -> ServiceUnavailableError:
        log.error(
            "store_error", backend="postgres", error=str(exc), error_type=type(exc).__name__
        )
        return ServiceUnavailableError(
            "The record store is unavailable; nothing was stored.", code=Code.STORE_UNAVAILABLE
        )

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Any]:
        """A pooled connection for one store call, bounded by ``statement_timeout``.

        Database and network errors and the timeout become a 503. A call that ends while a
        statement may still be in flight (timeout, cancellation, a broken connection) has
        its connection terminated instead of returned to the pool.
        """
        pool = self._pool
        if pool is None:
            raise ServiceUnavailableError(
                "The record store is not started.", code=Code.STORE_UNAVAILABLE
            )
        conn: Any = None
        clean = False
        try:
            with anyio.fail_after(self._statement_timeout):
                conn = await pool.acquire(timeout=self._timeout)
                try:
                    yield conn
                    clean = True
                except _LOST:  # the conversation may be cut mid-way: not clean
                    raise
                except Exception:  # a refusal (constraint, conflict): the connection is fine
                    clean = not conn.is_closed() and not conn.is_in_transaction()
                    raise
        except TimeoutError as exc:
            raise self._unavailable(
                TimeoutError(f"store call exceeded {self._statement_timeout:g} s")
            ) from exc
        except _DB_ERRORS as exc:
            raise self._unavailable(exc) from exc
        finally:
            if conn is not None:
                await self._release(pool, conn, clean)

    async def _release(self, pool: Any, conn: Any, clean: bool) -> None:
        """Return ``conn`` to the pool, or terminate it when it may be mid-conversation."""
        if not clean:
            conn.terminate()
        with anyio.CancelScope(shield=True), anyio.move_on_after(self._timeout):
            try:
                await pool.release(conn, timeout=self._timeout)
            except Exception as exc:  # noqa: BLE001 - a broken connection is dropped anyway
                log.info("store_connection_dropped", error_type=type(exc).__name__)
                conn.terminate()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Any]:
        """A connection inside a transaction: committed on success, rolled back on error."""
        async with self._connection() as conn, conn.transaction():
            yield conn

    async def _grouped(self, fn: Callable[[Any], Awaitable[T]]) -> T:
        """Run ``fn(conn)`` in a transaction group-committed with the writes queued beside it.

        ``fn`` runs inside a savepoint of the batch's transaction, which holds
        ``EVENT_APPEND_LOCK`` from its start: if ``fn`` raises, only its changes are rolled
        back and the error reaches this caller alone. Returns once that commit is durable.

        Raises:
            ServiceUnavailableError: the database failed (the whole batch was rolled back)
                or ``fn`` met a database error.
        """
        # The whole call (queueing included) is bounded by ``statement_timeout``; the batch
        # runs shielded from its leader's cancellation (it holds other callers' writes).
        job = await self._writes.submit(
            Job(fn, deadline=time.monotonic() + self._statement_timeout))
        if job.error is not None:
            if isinstance(job.error, _DB_ERRORS):
                raise self._unavailable(job.error) from job.error
            raise job.error
        result: T = job.result
        return result

    async def _commit_batch(self, batch: list[Job[_Write]]) -> None:
        """Run ``batch`` in one transaction and one commit; resolve every job.

        The batch must end by the deadline of its oldest write, so no caller waits past
        ``statement_timeout`` in all; writes already past theirs fail without running.
        """
        now = time.monotonic()
        for job in batch:
            if job.deadline <= now:
                job.error = TimeoutError(
                    f"store call exceeded {self._statement_timeout:g} s (queued)"
                )
        live = [job for job in batch if job.error is None]
        try:
            if live:
                with anyio.fail_after(min(job.deadline for job in live) - now):
                    await self._run_batch(live)
        except Exception as exc:  # the transaction is lost: every write of it failed with it
            for job in live:
                if job.error is None:
                    job.error, job.result = exc, None
        finally:
            for job in batch:
                job.done = True
            self.commits += 1
            self.batched_writes += len(live)

    async def _run_batch(self, batch: list[Job[_Write]]) -> None:
        """One transaction holding ``EVENT_APPEND_LOCK``, a savepoint per write, one commit."""
        async with self._connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", EVENT_APPEND_LOCK)
            for job in batch:
                try:
                    async with conn.transaction():  # a savepoint
                        job.result = await job.fn(conn)
                except _LOST:  # the connection may be gone: the batch is lost
                    raise
                except Exception as exc:  # this write only (rolled back to its savepoint)
                    job.error = exc

    async def _insert_events(self, conn: Any, events: Sequence[CloudEvent]) -> None:
        """Append ``events`` to the log inside the caller's transaction (in seq order)."""
        if not events:
            return
        await conn.execute("SELECT pg_advisory_xact_lock($1)", EVENT_APPEND_LOCK)
        await conn.executemany(
            f"INSERT INTO events (event_id, topic, body, created_at) VALUES ($1, $2, $3, {DB_NOW})",
            [(e.id, topic_of(e.type), encode_event(e)) for e in events],
        )
