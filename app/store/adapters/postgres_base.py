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
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, Final

import asyncpg
import structlog

from app.contracts.events import CloudEvent, topic_of
from app.errors import Code, ServiceUnavailableError
from app.runtime.lifecycle import Component
from app.store.adapters.postgres_migrations import migrate
from app.store.adapters.rows import encode_event

__all__ = ["DB_NOW", "EVENT_APPEND_LOCK", "PostgresBase"]

log = structlog.get_logger(__name__)

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


class PostgresBase(Component):
    """Lifecycle, the pool and the transaction helper.

    Args:
        dsn: the PostgreSQL connection string.
        pool_size: the largest number of pooled connections.
        schema: a schema to create (if missing) and work in; None = the DSN's search_path.
        connect_timeout: seconds a new connection may take.
    """

    def __init__(
        self,
        dsn: str,
        *,
        pool_size: int = 10,
        schema: str | None = None,
        connect_timeout: float = 5.0,
    ) -> None:
        self.dsn = dsn
        self.schema = schema
        self._pool_size = pool_size
        self._timeout = connect_timeout
        self._pool: Any = None

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Open the pool and run the migrations.

        Raises:
            ServiceUnavailableError: PostgreSQL cannot be reached.
            ConfigError: the schema was written by a newer Worldgate.
        """
        if self._pool is not None:
            return
        settings = {"search_path": self.schema} if self.schema else None
        try:
            if self.schema:
                conn = await asyncpg.connect(self.dsn, timeout=self._timeout)
                try:
                    await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
                finally:
                    await conn.close()
            pool = await asyncpg.create_pool(
                self.dsn,
                min_size=1,
                max_size=self._pool_size,
                timeout=self._timeout,
                server_settings=settings,
            )
        except _DB_ERRORS as exc:
            raise self._unavailable(exc) from exc
        try:
            async with pool.acquire() as conn:
                version = await migrate(conn)
        except BaseException:
            await pool.close()
            raise
        self._pool = pool
        log.info("store_started", backend="postgres", schema=self.schema, version=version)

    async def close(self) -> None:
        """Close the pool once the running calls have returned their connections."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def ping(self) -> bool:
        """Return True when a trivial query answers."""
        try:
            async with self._connection() as conn:
                return bool(await conn.fetchval("SELECT 1") == 1)
        except ServiceUnavailableError:
            return False

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
        """A pooled connection; database and network errors become a 503."""
        if self._pool is None:
            raise ServiceUnavailableError(
                "The record store is not started.", code=Code.STORE_UNAVAILABLE
            )
        try:
            async with self._pool.acquire(timeout=self._timeout) as conn:
                yield conn
        except _DB_ERRORS as exc:
            raise self._unavailable(exc) from exc

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Any]:
        """A connection inside a transaction: committed on success, rolled back on error."""
        async with self._connection() as conn, conn.transaction():
            yield conn

    async def _insert_events(self, conn: Any, events: Sequence[CloudEvent]) -> None:
        """Append ``events`` to the log inside the caller's transaction (in seq order)."""
        if not events:
            return
        await conn.execute("SELECT pg_advisory_xact_lock($1)", EVENT_APPEND_LOCK)
        await conn.executemany(
            f"INSERT INTO events (event_id, topic, body, created_at) VALUES ($1, $2, $3, {DB_NOW})",
            [(e.id, topic_of(e.type), encode_event(e)) for e in events],
        )
