"""API keys and the audit log on PostgreSQL.

Several processes append to the audit log. Each append takes the event-append advisory
lock (``EVENT_APPEND_LOCK``) before inserting its rows, as event appends do, so audit rows
(like events) become visible in ``seq`` order: a reader paging after ``seq`` n never later
finds a smaller, late-committed one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.contracts.audit import AuditRecord
from app.contracts.events import CloudEvent
from app.contracts.keys import ApiKey
from app.errors import Code, ConflictError
from app.store.adapters.postgres_base import EVENT_APPEND_LOCK, PostgresBase
from app.store.adapters.rows_keys import (
    AUDIT_COLS,
    KEY_COLS,
    api_key,
    audit_filters,
    audit_record,
    audit_row,
    key_row,
)
from app.store.ports import AuditQuery

__all__ = ["PostgresKeyStore"]

_KEY_MARKS = ", ".join(f"${i + 1}" for i in range(len(KEY_COLS.split(","))))
_AUDIT_MARKS = ", ".join(f"${i + 1}" for i in range(len(AUDIT_COLS.split(","))))


class PostgresKeyStore(PostgresBase):
    """``KeyStore`` and ``AuditLog`` on PostgreSQL, shared by every process."""

    # -- keys --------------------------------------------------------------------------

    async def list_keys(self) -> list[ApiKey]:
        """Return every stored key, by id."""
        async with self._connection() as conn:
            rows = await conn.fetch(f"SELECT {KEY_COLS} FROM api_keys ORDER BY id")
        return [api_key(tuple(r)) for r in rows]

    async def insert_key(self, key: ApiKey) -> None:
        """Store a new key (409 when its id or secret hash is taken)."""
        async with self._transaction() as conn:
            inserted = await conn.fetchval(
                f"INSERT INTO api_keys ({KEY_COLS}) VALUES ({_KEY_MARKS})"
                " ON CONFLICT DO NOTHING RETURNING id",
                *key_row(key),
            )
        if inserted is None:
            raise ConflictError(
                f"A key with id {key.id!r} (or this secret) exists already.", code=Code.CONFLICT
            )

    async def revoke_key(
        self, key_id: str, at: float, by: str, *, absent: ApiKey | None = None
    ) -> ApiKey | None:
        """Revoke ``key_id`` (first revocation wins); store ``absent`` when unknown."""
        async with self._transaction() as conn:
            if absent is not None:
                await conn.execute(
                    f"INSERT INTO api_keys ({KEY_COLS}) VALUES ({_KEY_MARKS})"
                    " ON CONFLICT (id) DO NOTHING",
                    *key_row(absent),
                )
            await conn.execute(
                "UPDATE api_keys SET revoked_at = $2, revoked_by = $3"
                " WHERE id = $1 AND revoked_at IS NULL",
                key_id, at, by,
            )
            row = await conn.fetchrow(f"SELECT {KEY_COLS} FROM api_keys WHERE id = $1", key_id)
        return None if row is None else api_key(tuple(row))

    # -- audit log -----------------------------------------------------------------------

    async def append_audit(
        self, records: Sequence[AuditRecord], events: Sequence[CloudEvent]
    ) -> None:
        """Append the records and their events in one durable transaction, in seq order
        (group-committed with the writes queued beside it)."""
        if not records and not events:
            return

        async def write(conn: Any) -> None:
            # The batch holds EVENT_APPEND_LOCK already; taking it again is free (re-entrant)
            # and keeps this write correct on its own.
            await conn.execute("SELECT pg_advisory_xact_lock($1)", EVENT_APPEND_LOCK)
            await conn.executemany(
                f"INSERT INTO audit_log ({AUDIT_COLS}) VALUES ({_AUDIT_MARKS})",
                [audit_row(r) for r in records],
            )
            await self._insert_events(conn, events)

        await self._grouped(write)

    async def read_audit(self, query: AuditQuery) -> list[AuditRecord]:
        """Return the matching records in ``seq`` order."""
        where, args = audit_filters(query, lambda n: f"${n}")
        args.append(query.limit)
        sql = (
            f"SELECT seq, {AUDIT_COLS} FROM audit_log WHERE {where}"
            f" ORDER BY seq LIMIT ${len(args)}"
        )
        async with self._connection() as conn:
            rows = await conn.fetch(sql, *args)
        return [audit_record(tuple(r)) for r in rows]
