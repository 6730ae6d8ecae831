"""Trading states, their history, order-rate buckets and previews on SQLite."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from app.contracts.risk import (
    GLOBAL_SCOPE,
    RiskScope,
    RiskStates,
    TradingStateRecord,
    default_state,
)
from app.store.adapters.rows import (
    grant_tokens,
    refill_tokens,
    risk_change,
    stored_preview,
    trading_state,
)
from app.store.adapters.sqlite_base import SqliteBase
from app.store.ports import RiskChangeRecord, StateDecision, StoredPreview

__all__ = ["SqliteRiskStore"]

_STATE_COLS = "scope, world_id, state, reason, actor, updated_at, version, etag"
_HISTORY_COLS = (
    "seq, scope, world_id, state, previous_state, reason, actor, changed_at, etag, event_id"
)
_PREVIEW_COLS = "execution_id, request_hash, etag, response, basis, created_at, expires_at"


class SqliteRiskStore(SqliteBase):
    """``RiskStateStore`` and ``PreviewStore`` on SQLite. Writes are serialised by the
    writer lock (and SQLite's own lock across processes), so a state change, a token take
    and the read inside them see no concurrent writer."""

    # -- trading states ----------------------------------------------------------------

    async def get_risk_states(self, world_ids: Sequence[str] | None = None) -> RiskStates:
        """Return the global state and the stored world states (of ``world_ids``)."""

        def read(conn: sqlite3.Connection) -> list[Any]:
            return conn.execute(f"SELECT {_STATE_COLS} FROM risk_states").fetchall()

        rows = [trading_state(r) for r in await self._read(read)]
        wanted = None if world_ids is None else set(world_ids)
        glob = default_state(GLOBAL_SCOPE)
        worlds: dict[str, TradingStateRecord] = {}
        for record in rows:
            if record.scope == GLOBAL_SCOPE:
                glob = record
            elif wanted is None or record.world_id in wanted:
                worlds[record.world_id] = record
        return RiskStates(global_state=glob, worlds=worlds)

    async def set_risk_state(
        self,
        scope: RiskScope,
        world_id: str,
        decide: Callable[[TradingStateRecord], StateDecision],
    ) -> TradingStateRecord:
        """Call ``decide`` on the current record inside the writer transaction; write what
        it returns (record, history row, event)."""

        def write(conn: sqlite3.Connection) -> TradingStateRecord:
            row = conn.execute(
                f"SELECT {_STATE_COLS} FROM risk_states WHERE scope = ? AND world_id = ?",
                (scope, world_id),
            ).fetchone()
            current = default_state(scope, world_id) if row is None else trading_state(row)
            decision = decide(current)
            new = decision.record
            conn.execute(
                f"INSERT OR REPLACE INTO risk_states ({_STATE_COLS})"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    scope, world_id, new.state, new.reason, new.actor, new.updated_at,
                    new.version, new.etag,
                ),
            )
            conn.execute(
                "INSERT INTO risk_state_history (scope, world_id, state, previous_state,"
                " reason, actor, changed_at, etag, event_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    scope, world_id, new.state, current.state, new.reason or "",
                    new.actor or "", new.updated_at, new.etag, decision.event.id,
                ),
            )
            self._insert_events(conn, [decision.event])
            return new

        return await self._write(write)

    async def risk_history(
        self, scope: RiskScope | None, world_id: str | None, limit: int, before: int | None
    ) -> list[RiskChangeRecord]:
        """Return up to ``limit`` changes, newest first (``seq < before`` when given)."""
        sql = f"SELECT {_HISTORY_COLS} FROM risk_state_history WHERE seq < ?"
        args: list[Any] = [before if before is not None else 2**62]
        if scope is not None:
            sql += " AND scope = ?"
            args.append(scope)
            if world_id is not None:
                sql += " AND world_id = ?"
                args.append(world_id)
        sql += " ORDER BY seq DESC LIMIT ?"
        args.append(limit)
        rows = await self._read(lambda c: c.execute(sql, args).fetchall())
        return [risk_change(r) for r in rows]

    # -- order-rate buckets --------------------------------------------------------------

    def _available(
        self, conn: sqlite3.Connection, worlds: Sequence[str], rate: float, now: float
    ) -> dict[str, float]:
        found: dict[str, tuple[float | None, float | None]] = {}
        for start in range(0, len(worlds), 500):  # stay under SQLite's variable limit
            chunk = list(worlds[start : start + 500])
            marks = ", ".join("?" for _ in chunk)
            for world, tokens, updated in conn.execute(
                "SELECT world_id, tokens, updated_at FROM risk_rate_buckets"
                f" WHERE world_id IN ({marks})",
                chunk,
            ):
                found[world] = (tokens, updated)
        out: dict[str, float] = {}
        for world in worlds:
            tokens, updated = found.get(world, (None, None))
            out[world] = refill_tokens(tokens, updated, now, rate)
        return out

    async def take_order_tokens(
        self, demand: Mapping[str, int], rate_per_minute: float, *, all_or_nothing: bool
    ) -> dict[str, int]:
        """Take tokens from the worlds' buckets in one write transaction."""
        wanted = {w: n for w, n in demand.items() if n > 0}

        def write(conn: sqlite3.Connection) -> dict[str, int]:
            now = self._clock()
            available = self._available(conn, sorted(wanted), rate_per_minute, now)
            granted = grant_tokens(wanted, available, all_or_nothing)
            conn.executemany(
                "INSERT OR REPLACE INTO risk_rate_buckets (world_id, tokens, updated_at)"
                " VALUES (?, ?, ?)",
                [(w, available[w] - granted[w], now) for w in sorted(wanted) if granted[w]],
            )
            return granted

        # Not fsynced on its own: the submit's durable commit that follows syncs it (WAL
        # keeps commits in order), and a crash before that loses the orders too.
        granted = await self._write(write, durable=False) if wanted else {}
        return {w: granted.get(w, 0) for w in demand}

    async def peek_order_tokens(
        self, world_ids: Sequence[str], rate_per_minute: float
    ) -> dict[str, int]:
        """Return the whole tokens each world's bucket holds now."""
        worlds = sorted(set(world_ids))
        available = await self._read(
            lambda c: self._available(c, worlds, rate_per_minute, self._clock())
        )
        return {w: int(t + 1e-9) for w, t in available.items()}

    # -- previews ------------------------------------------------------------------------

    async def save_preview(self, preview: StoredPreview, prune_before: float) -> None:
        """Insert ``preview`` and drop the previews that expired before ``prune_before``."""

        def write(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM execution_previews WHERE expires_at < ?", (prune_before,))
            conn.execute(
                f"INSERT INTO execution_previews ({_PREVIEW_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    preview.execution_id, preview.request_hash, preview.etag, preview.response,
                    preview.basis, preview.created_at, preview.expires_at,
                ),
            )

        await self._write(write)

    async def get_preview(self, execution_id: str) -> StoredPreview | None:
        """Return the preview stored under ``execution_id``."""
        row = await self._read(
            lambda c: c.execute(
                f"SELECT {_PREVIEW_COLS} FROM execution_previews WHERE execution_id = ?",
                (execution_id,),
            ).fetchone()
        )
        return None if row is None else stored_preview(row)
