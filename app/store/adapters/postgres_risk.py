"""Trading states, their history, order-rate buckets and previews on PostgreSQL.

Several Gateways share these rows. A state change locks its row (created first if it was
never set) with ``SELECT ... FOR UPDATE``, so changes of one state run one after the other
in every process and an ``If-Match`` check sees the latest committed version. A token take
locks the buckets of its worlds in key order (no deadlock between two takers) and times
them with the database clock, so every Gateway refills at the same pace.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from app.contracts.risk import (
    GLOBAL_SCOPE,
    RiskScope,
    RiskStates,
    TradingStateRecord,
    default_state,
)
from app.store.adapters.postgres_base import DB_NOW, PostgresBase
from app.store.adapters.rows import (
    grant_tokens,
    refill_tokens,
    risk_change,
    stored_preview,
    trading_state,
)
from app.store.ports import RiskChangeRecord, StateDecision, StoredPreview

__all__ = ["PostgresRiskStore"]

_STATE_COLS = "scope, world_id, state, reason, actor, updated_at, version, etag"
_HISTORY_COLS = (
    "seq, scope, world_id, state, previous_state, reason, actor, changed_at, etag, event_id"
)
_PREVIEW_COLS = "execution_id, request_hash, etag, response, basis, created_at, expires_at"


class PostgresRiskStore(PostgresBase):
    """``RiskStateStore`` and ``PreviewStore`` on PostgreSQL, safe for many processes."""

    # -- trading states ----------------------------------------------------------------

    async def get_risk_states(self, world_ids: Sequence[str] | None = None) -> RiskStates:
        """Return the global state and the stored world states (of ``world_ids``)."""
        async with self._connection() as conn:
            if world_ids is None:
                rows = await conn.fetch(f"SELECT {_STATE_COLS} FROM risk_states")
            else:
                rows = await conn.fetch(
                    f"SELECT {_STATE_COLS} FROM risk_states"
                    " WHERE scope = $1 OR world_id = ANY($2::text[])",
                    GLOBAL_SCOPE,
                    list(dict.fromkeys(world_ids)),
                )
        glob = default_state(GLOBAL_SCOPE)
        worlds: dict[str, TradingStateRecord] = {}
        for row in rows:
            record = trading_state(tuple(row))
            if record.scope == GLOBAL_SCOPE:
                glob = record
            else:
                worlds[record.world_id] = record
        return RiskStates(global_state=glob, worlds=worlds)

    async def set_risk_state(
        self,
        scope: RiskScope,
        world_id: str,
        decide: Callable[[TradingStateRecord], StateDecision],
    ) -> TradingStateRecord:
        """Lock the state's row, call ``decide`` on it, write what it returns."""
        default = default_state(scope, world_id)
        async with self._transaction() as conn:
            await conn.execute(
                f"INSERT INTO risk_states ({_STATE_COLS}) VALUES ($1, $2, $3, NULL, NULL,"
                " 0, 0, $4) ON CONFLICT DO NOTHING",
                scope, world_id, default.state, default.etag,
            )
            row = await conn.fetchrow(
                f"SELECT {_STATE_COLS} FROM risk_states WHERE scope = $1 AND world_id = $2"
                " FOR UPDATE",
                scope, world_id,
            )
            current = trading_state(tuple(row))
            decision = decide(current)
            new = decision.record
            await conn.execute(
                "UPDATE risk_states SET state = $3, reason = $4, actor = $5, updated_at = $6,"
                " version = $7, etag = $8 WHERE scope = $1 AND world_id = $2",
                scope, world_id, new.state, new.reason, new.actor, new.updated_at,
                new.version, new.etag,
            )
            await conn.execute(
                "INSERT INTO risk_state_history (scope, world_id, state, previous_state,"
                " reason, actor, changed_at, etag, event_id)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                scope, world_id, new.state, current.state, new.reason or "", new.actor or "",
                new.updated_at, new.etag, decision.event.id,
            )
            await self._insert_events(conn, [decision.event])
        return new

    async def risk_history(
        self, scope: RiskScope | None, world_id: str | None, limit: int, before: int | None
    ) -> list[RiskChangeRecord]:
        """Return up to ``limit`` changes, newest first (``seq < before`` when given)."""
        sql = f"SELECT {_HISTORY_COLS} FROM risk_state_history WHERE seq < $1"
        args: list[Any] = [before if before is not None else 2**62]
        if scope is not None:
            args.append(scope)
            sql += f" AND scope = ${len(args)}"
            if world_id is not None:
                args.append(world_id)
                sql += f" AND world_id = ${len(args)}"
        args.append(limit)
        sql += f" ORDER BY seq DESC LIMIT ${len(args)}"
        async with self._connection() as conn:
            rows = await conn.fetch(sql, *args)
        return [risk_change(tuple(r)) for r in rows]

    # -- order-rate buckets --------------------------------------------------------------

    async def take_order_tokens(
        self, demand: Mapping[str, int], rate_per_minute: float, *, all_or_nothing: bool
    ) -> dict[str, int]:
        """Take tokens from the worlds' buckets, their rows locked in key order."""
        wanted = {w: n for w, n in demand.items() if n > 0}
        if not wanted:
            return dict.fromkeys(demand, 0)
        worlds = sorted(wanted)
        async with self._transaction() as conn:
            # The submit's own commit follows: a take lost in a crash before it lost its
            # orders too, so this commit need not wait for the WAL flush.
            await conn.execute("SET LOCAL synchronous_commit = off")
            await conn.execute(
                "INSERT INTO risk_rate_buckets (world_id, tokens, updated_at)"
                f" SELECT w, $2, {DB_NOW} FROM unnest($1::text[]) AS w ORDER BY w"
                " ON CONFLICT DO NOTHING",
                worlds, rate_per_minute,
            )
            rows = await conn.fetch(
                f"SELECT world_id, tokens, updated_at, {DB_NOW} FROM risk_rate_buckets"
                " WHERE world_id = ANY($1::text[]) ORDER BY world_id FOR UPDATE",
                worlds,
            )
            now = max((r[3] for r in rows), default=0.0)
            available = {r[0]: refill_tokens(r[1], r[2], now, rate_per_minute) for r in rows}
            granted = grant_tokens(wanted, available, all_or_nothing)
            taken = [w for w in worlds if granted[w]]
            if taken:
                await conn.execute(
                    "UPDATE risk_rate_buckets b SET tokens = t.tokens, updated_at = $3"
                    " FROM unnest($1::text[], $2::float8[]) AS t(world_id, tokens)"
                    " WHERE b.world_id = t.world_id",
                    taken, [available[w] - granted[w] for w in taken], now,
                )
        return {w: granted.get(w, 0) for w in demand}

    async def peek_order_tokens(
        self, world_ids: Sequence[str], rate_per_minute: float
    ) -> dict[str, int]:
        """Return the whole tokens each world's bucket holds now."""
        worlds = sorted(set(world_ids))
        async with self._connection() as conn:
            rows = await conn.fetch(
                f"SELECT world_id, tokens, updated_at, {DB_NOW} FROM risk_rate_buckets"
                " WHERE world_id = ANY($1::text[])",
                worlds,
            )
        found = {r[0]: refill_tokens(r[1], r[2], r[3], rate_per_minute) for r in rows}
        return {w: int(found.get(w, rate_per_minute) + 1e-9) for w in worlds}

    # -- previews ------------------------------------------------------------------------

    async def save_preview(self, preview: StoredPreview, prune_before: float) -> None:
        """Insert ``preview`` and drop the previews that expired before ``prune_before``."""
        async with self._transaction() as conn:
            await conn.execute(
                "DELETE FROM execution_previews WHERE expires_at < $1", prune_before
            )
            await conn.execute(
                f"INSERT INTO execution_previews ({_PREVIEW_COLS})"
                " VALUES ($1, $2, $3, $4, $5, $6, $7)",
                preview.execution_id, preview.request_hash, preview.etag, preview.response,
                preview.basis, preview.created_at, preview.expires_at,
            )

    async def get_preview(self, execution_id: str) -> StoredPreview | None:
        """Return the preview stored under ``execution_id``."""
        async with self._connection() as conn:
            row = await conn.fetchrow(
                f"SELECT {_PREVIEW_COLS} FROM execution_previews WHERE execution_id = $1",
                execution_id,
            )
        return None if row is None else stored_preview(tuple(row))
