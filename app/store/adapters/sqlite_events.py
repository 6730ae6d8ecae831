"""The event log / outbox part of the SQLite store."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from app.store.adapters.rows import stored_event
from app.store.adapters.sqlite_base import SqliteBase
from app.store.ports import StoredEvent

__all__ = ["SqliteEventLog"]

_EVENT_COLS = "seq, topic, body, created_at, published_at"


class SqliteEventLog(SqliteBase):
    """``EventLog`` on SQLite: a global ``seq`` (AUTOINCREMENT), leases, retention."""

    async def claim_unpublished(
        self, limit: int, lease_seconds: float, owner: str
    ) -> list[StoredEvent]:
        """Lease up to ``limit`` unpublished events (not leased to someone else) to ``owner``."""

        def write(conn: sqlite3.Connection) -> list[StoredEvent]:
            now = self._clock()
            rows = conn.execute(
                f"SELECT {_EVENT_COLS} FROM events WHERE published_at IS NULL"
                " AND (lease_until IS NULL OR lease_until <= ? OR lease_owner = ?)"
                " ORDER BY seq LIMIT ?",
                (now, owner, limit),
            ).fetchall()
            conn.executemany(
                "UPDATE events SET lease_owner = ?, lease_until = ? WHERE seq = ?",
                [(owner, now + lease_seconds, r[0]) for r in rows],
            )
            return [stored_event(r) for r in rows]

        return await self._write(write, durable=False)

    async def mark_published(self, seqs: Sequence[int], owner: str) -> None:
        """Mark events published (whoever holds their lease now: they *were* published)."""
        if not seqs:
            return

        def write(conn: sqlite3.Connection) -> None:
            now = self._clock()
            conn.executemany(
                "UPDATE events SET published_at = ?, lease_owner = NULL, lease_until = NULL"
                " WHERE seq = ? AND published_at IS NULL",
                [(now, seq) for seq in seqs],
            )

        await self._write(write, durable=False)

    async def events_since(
        self, seq: int, topics: Sequence[str] | None, limit: int
    ) -> list[StoredEvent]:
        """Return retained events after ``seq`` (published or not yet), in seq order."""
        sql = f"SELECT {_EVENT_COLS} FROM events WHERE seq > ?"
        args: list[Any] = [seq]
        if topics is not None:
            sql += f" AND topic IN ({', '.join('?' for _ in topics)})"
            args.extend(topics)
        sql += " ORDER BY seq LIMIT ?"
        args.append(limit)
        rows = await self._read(lambda c: c.execute(sql, args).fetchall())
        return [stored_event(r) for r in rows]

    async def retained_range(self) -> tuple[int, int]:
        """Return ``(oldest_seq, latest_seq)`` of the retained log, ``(0, 0)`` when empty."""
        row = await self._read(
            lambda c: c.execute("SELECT MIN(seq), MAX(seq) FROM events").fetchone()
        )
        return (0, 0) if row[0] is None else (int(row[0]), int(row[1]))

    async def prune_events(self, max_count: int, max_age_seconds: float) -> int:
        """Drop published events beyond ``max_count`` or older than ``max_age_seconds``.

        Unpublished events and the latest event (which anchors ``retained_range``) stay.
        """

        def write(conn: sqlite3.Connection) -> int:
            latest = conn.execute("SELECT MAX(seq) FROM events").fetchone()[0]
            if latest is None:
                return 0
            cur = conn.execute(
                "DELETE FROM events WHERE published_at IS NOT NULL AND seq < ?"
                " AND (seq <= ? OR created_at < ?)",
                (latest, latest - max_count, self._clock() - max_age_seconds),
            )
            return cur.rowcount

        return await self._write(write, durable=False)

    async def outbox_backlog(self) -> int:
        """Return how many events are not yet published."""
        row = await self._read(
            lambda c: c.execute("SELECT COUNT(*) FROM events WHERE published_at IS NULL").fetchone()
        )
        return int(row[0])

