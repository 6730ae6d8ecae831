"""The event log / outbox part of the PostgreSQL store (safe for many publisher processes)."""

from __future__ import annotations

from collections.abc import Sequence

from app.store.adapters.postgres_base import DB_NOW, PostgresBase
from app.store.adapters.rows import stored_event
from app.store.ports import StoredEvent

__all__ = ["PostgresEventLog"]

_EVENT_COLS = "seq, topic, body, created_at, published_at"
# Leases and published marks need not survive a crash: losing one only makes an event be
# published again (at-least-once), so their commits skip the wait for the WAL flush.
_NO_FSYNC = "SET LOCAL synchronous_commit = off"


class PostgresEventLog(PostgresBase):
    """``EventLog`` on PostgreSQL: identity ``seq``, leases claimed with ``SKIP LOCKED``."""

    async def claim_unpublished(
        self, limit: int, lease_seconds: float, owner: str
    ) -> list[StoredEvent]:
        """Lease up to ``limit`` unpublished events (not leased to someone else) to ``owner``.

        ``FOR UPDATE SKIP LOCKED`` lets publishers in several processes claim at the same
        time without waiting for each other or taking the same rows; the lease columns keep
        a claimed row away from the others until it expires or is marked published.
        """
        async with self._transaction() as conn:
            await conn.execute(_NO_FSYNC)
            rows = await conn.fetch(
                f"""WITH now AS (SELECT {DB_NOW} AS t),
                claimable AS (
                    SELECT seq FROM events, now
                    WHERE published_at IS NULL
                      AND (lease_until IS NULL OR lease_until <= now.t OR lease_owner = $1)
                    ORDER BY seq LIMIT $2
                    FOR UPDATE OF events SKIP LOCKED
                )
                UPDATE events e SET lease_owner = $1, lease_until = now.t + $3
                FROM claimable, now WHERE e.seq = claimable.seq
                RETURNING e.seq, e.topic, e.body, e.created_at, e.published_at""",
                owner,
                limit,
                lease_seconds,
            )
        return sorted((stored_event(tuple(r)) for r in rows), key=lambda e: e.seq)

    async def mark_published(self, seqs: Sequence[int], owner: str) -> None:
        """Mark events published (whoever holds their lease now: they *were* published)."""
        if not seqs:
            return
        async with self._transaction() as conn:
            await conn.execute(_NO_FSYNC)
            await conn.execute(
                f"UPDATE events SET published_at = {DB_NOW}, lease_owner = NULL,"
                " lease_until = NULL WHERE seq = ANY($1::bigint[]) AND published_at IS NULL",
                list(seqs),
            )

    async def events_since(
        self, seq: int, topics: Sequence[str] | None, limit: int
    ) -> list[StoredEvent]:
        """Return retained events after ``seq`` (published or not yet), in seq order."""
        async with self._connection() as conn:
            if topics is None:
                rows = await conn.fetch(
                    f"SELECT {_EVENT_COLS} FROM events WHERE seq > $1 ORDER BY seq LIMIT $2",
                    seq,
                    limit,
                )
            else:
                rows = await conn.fetch(
                    f"SELECT {_EVENT_COLS} FROM events WHERE seq > $1"
                    " AND topic = ANY($2::text[]) ORDER BY seq LIMIT $3",
                    seq,
                    list(topics),
                    limit,
                )
        return [stored_event(tuple(r)) for r in rows]

    async def retained_range(self) -> tuple[int, int]:
        """Return ``(oldest_seq, latest_seq)`` of the retained log, ``(0, 0)`` when empty."""
        async with self._connection() as conn:
            row = await conn.fetchrow("SELECT MIN(seq), MAX(seq) FROM events")
        return (0, 0) if row[0] is None else (int(row[0]), int(row[1]))

    async def prune_events(self, max_count: int, max_age_seconds: float) -> int:
        """Drop published events beyond ``max_count`` or older than ``max_age_seconds``.

        Unpublished events and the latest event (which anchors ``retained_range``) stay.
        """
        async with self._transaction() as conn:
            latest = await conn.fetchval("SELECT MAX(seq) FROM events")
            if latest is None:
                return 0
            status = await conn.execute(
                "DELETE FROM events WHERE published_at IS NOT NULL AND seq < $1"
                f" AND (seq <= $2 OR created_at < {DB_NOW} - $3)",
                latest,
                latest - max_count,
                max_age_seconds,
            )
        return int(status.rsplit(" ", 1)[-1])

    async def outbox_backlog(self) -> int:
        """Return how many events are not yet published."""
        async with self._connection() as conn:
            count = await conn.fetchval("SELECT COUNT(*) FROM events WHERE published_at IS NULL")
        return int(count)
