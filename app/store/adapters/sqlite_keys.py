"""API keys and the audit log on SQLite."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from app.contracts.audit import AuditRecord
from app.contracts.events import CloudEvent
from app.contracts.keys import ApiKey
from app.errors import Code, ConflictError
from app.store.adapters.rows_keys import (
    AUDIT_COLS,
    KEY_COLS,
    api_key,
    audit_filters,
    audit_record,
    audit_row,
    key_row,
)
from app.store.adapters.sqlite_base import SqliteBase
from app.store.ports import AuditQuery

__all__ = ["SqliteKeyStore"]

_KEY_MARKS = ", ".join("?" for _ in KEY_COLS.split(","))
_AUDIT_MARKS = ", ".join("?" for _ in AUDIT_COLS.split(","))


class SqliteKeyStore(SqliteBase):
    """``KeyStore`` and ``AuditLog`` on SQLite. Audit rows take their ``seq`` inside the
    single writer's transaction, so they become visible in ``seq`` order."""

    # -- keys --------------------------------------------------------------------------

    async def list_keys(self) -> list[ApiKey]:
        """Return every stored key, by id."""
        rows = await self._read(
            lambda c: c.execute(f"SELECT {KEY_COLS} FROM api_keys ORDER BY id").fetchall()
        )
        return [api_key(r) for r in rows]

    async def insert_key(self, key: ApiKey) -> None:
        """Store a new key (409 when its id or secret hash is taken)."""

        def write(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(f"INSERT INTO api_keys ({KEY_COLS}) VALUES ({_KEY_MARKS})",
                             key_row(key))
            except sqlite3.IntegrityError as exc:
                raise ConflictError(
                    f"A key with id {key.id!r} (or this secret) exists already.",
                    code=Code.CONFLICT,
                ) from exc

        await self._write(write)

    async def revoke_key(
        self, key_id: str, at: float, by: str, *, absent: ApiKey | None = None
    ) -> ApiKey | None:
        """Revoke ``key_id`` (first revocation wins); store ``absent`` when unknown."""

        def write(conn: sqlite3.Connection) -> ApiKey | None:
            conn.execute(
                "UPDATE api_keys SET revoked_at = ?, revoked_by = ?"
                " WHERE id = ? AND revoked_at IS NULL",
                (at, by, key_id),
            )
            row = conn.execute(
                f"SELECT {KEY_COLS} FROM api_keys WHERE id = ?", (key_id,)
            ).fetchone()
            if row is not None:
                return api_key(row)
            if absent is None:
                return None
            conn.execute(f"INSERT INTO api_keys ({KEY_COLS}) VALUES ({_KEY_MARKS})",
                         key_row(absent))
            return absent

        return await self._write(write)

    # -- audit log -----------------------------------------------------------------------

    async def append_audit(
        self, records: Sequence[AuditRecord], events: Sequence[CloudEvent]
    ) -> None:
        """Append the records and their events in one durable transaction."""
        if not records and not events:
            return

        def write(conn: sqlite3.Connection) -> None:
            conn.executemany(
                f"INSERT INTO audit_log ({AUDIT_COLS}) VALUES ({_AUDIT_MARKS})",
                [audit_row(r) for r in records],
            )
            self._insert_events(conn, events)

        await self._write(write)

    async def read_audit(self, query: AuditQuery) -> list[AuditRecord]:
        """Return the matching records in ``seq`` order."""
        where, args = audit_filters(query, lambda _: "?")
        sql = f"SELECT seq, {AUDIT_COLS} FROM audit_log WHERE {where} ORDER BY seq LIMIT ?"
        rows = await self._read(lambda c: c.execute(sql, [*args, query.limit]).fetchall())
        return [audit_record(r) for r in rows]
