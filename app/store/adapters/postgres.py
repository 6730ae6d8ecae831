"""The scale-out Store adapter on PostgreSQL (asyncpg pool; see ``postgres_base``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from app.contracts.events import CloudEvent
from app.errors import Code, ConflictError
from app.store.adapters.postgres_events import PostgresEventLog
from app.store.adapters.postgres_keys import PostgresKeyStore
from app.store.adapters.postgres_risk import PostgresRiskStore
from app.store.adapters.rows import (
    ALLOC_COLS,
    EXEC_COLS,
    EXECUTIONS_NEWEST_FIRST,
    PLAN_COLS,
    PLANS_NEWEST_FIRST,
    RUN_COLS,
    NewestFirst,
    allocation_record,
    allocation_run,
    encode_json,
    execution_record,
    stored_plan,
)
from app.store.ports import (
    AllocationDecision,
    AllocationPage,
    AllocationRecord,
    AllocationRun,
    ExecutionPage,
    ExecutionRecord,
    PlanPage,
    StoredPlan,
)

__all__ = ["PostgresStore"]


class PostgresStore(PostgresRiskStore, PostgresKeyStore, PostgresEventLog):
    """The Store port on PostgreSQL: plans, allocations, executions, trading states,
    previews, API keys, the audit log and the event log.

    Several processes may share one database: idempotency keys are unique constraints
    (``INSERT ... ON CONFLICT DO NOTHING``), allocation upserts lock their worlds' rows and
    the outbox is claimed with ``SKIP LOCKED``.

    Args:
        dsn: the PostgreSQL connection string.
        pool_size: the largest number of pooled connections.
        schema: a schema to create (if missing) and work in; None = the DSN's search_path.
    """

    # -- plans -------------------------------------------------------------------------

    async def save_plan(
        self, plan: StoredPlan, events: Sequence[CloudEvent]
    ) -> tuple[StoredPlan, bool]:
        """Insert ``plan`` with ``events``; return the existing plan when ``run_id`` is known.

        Group-committed (see ``postgres_base``) with the other writes queued beside it.
        """

        async def write(conn: Any) -> tuple[StoredPlan, bool]:
            plan_id = await conn.fetchval(
                "INSERT INTO plans (run_id, request_hash, schema_version, world_ids, response,"
                " event_ids, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"
                " ON CONFLICT (run_id) DO NOTHING RETURNING id",
                plan.run_id, plan.request_hash, plan.schema_version,
                encode_json(plan.world_ids), plan.response, encode_json(plan.event_ids),
                plan.created_at,
            )
            if plan_id is None:  # stored before (or by a concurrent call that committed)
                row = await conn.fetchrow(
                    f"SELECT {PLAN_COLS} FROM plans WHERE run_id = $1", plan.run_id
                )
                return stored_plan(tuple(row)), False
            await conn.executemany(
                "INSERT INTO plan_worlds (world_id, plan_id) VALUES ($1, $2)",
                [(world, plan_id) for world in dict.fromkeys(plan.world_ids)],
            )
            await self._insert_events(conn, events)
            return plan, True

        return await self._grouped(write)

    async def get_plan(self, run_id: str) -> StoredPlan | None:
        """Return the plan applied under ``run_id``."""
        async with self._connection() as conn:
            row = await conn.fetchrow(f"SELECT {PLAN_COLS} FROM plans WHERE run_id = $1", run_id)
        return None if row is None else stored_plan(tuple(row))

    async def list_plans(
        self, world_id: str | None, limit: int, before: int | None = None
    ) -> PlanPage:
        """Return a page of plans, newest first, optionally touching ``world_id``."""
        sql, args = PLANS_NEWEST_FIRST.query(world_id, limit, before, lambda n: f"${n}")
        async with self._connection() as conn:
            rows, after = NewestFirst.page(await conn.fetch(sql, *args), limit)
        return PlanPage(plans=[stored_plan(r) for r in rows], next=after)

    # -- allocations ---------------------------------------------------------------------

    async def get_allocations(
        self, world_ids: Sequence[str] | None = None
    ) -> dict[str, AllocationRecord]:
        """Return the current records of ``world_ids`` (every world when None)."""
        async with self._connection() as conn:
            records = await self._select_allocations(conn, world_ids)
        return {r.world_id: r for r in records}

    async def list_allocations(self, limit: int, after: str | None = None) -> AllocationPage:
        """Return a page of records in ``world_id`` order, after the world ``after``."""
        async with self._connection() as conn:
            rows = await conn.fetch(
                f"SELECT {ALLOC_COLS} FROM allocations WHERE world_id > $1"
                " ORDER BY world_id LIMIT $2",
                "" if after is None else after, limit + 1,
            )
        records = [allocation_record(tuple(r)) for r in rows[:limit]]
        return AllocationPage(records=records,
                              next=records[-1].world_id if len(rows) > limit else None)

    async def get_allocation_run(self, run_id: str) -> AllocationRun | None:
        """Return the allocation run stored under ``run_id``."""
        async with self._connection() as conn:
            row = await conn.fetchrow(
                f"SELECT {RUN_COLS} FROM allocation_runs WHERE run_id = $1", run_id
            )
        return None if row is None else allocation_run(tuple(row))

    async def apply_allocations(
        self,
        run_id: str,
        world_ids: Sequence[str],
        decide: Callable[[AllocationRun | None, dict[str, AllocationRecord]], AllocationDecision],
    ) -> tuple[AllocationRun, bool]:
        """Lock the run's and the worlds' rows, call ``decide``, write what it returns.

        The lock rows are created first in their own short transaction (in key order, so
        two creators never deadlock); the upsert transaction then locks them with
        ``SELECT ... FOR UPDATE`` in key order. Upserts touching a common world or the same
        run id therefore run one after the other, in every process.
        """
        keys = sorted({f"run:{run_id}", *(f"world:{w}" for w in world_ids)})
        async with self._connection() as conn:
            await conn.execute(
                "INSERT INTO allocation_locks (key)"
                " SELECT k FROM unnest($1::text[]) AS k ORDER BY k ON CONFLICT DO NOTHING",
                keys,
            )
        async with self._transaction() as conn:
            await conn.execute(
                "SELECT key FROM allocation_locks WHERE key = ANY($1::text[])"
                " ORDER BY key FOR UPDATE",
                keys,
            )
            row = await conn.fetchrow(
                f"SELECT {RUN_COLS} FROM allocation_runs WHERE run_id = $1", run_id
            )
            existing = None if row is None else allocation_run(tuple(row))
            records = {r.world_id: r for r in await self._select_allocations(conn, world_ids)}
            decision = decide(existing, records)
            if existing is not None and decision.run == existing:
                return existing, False
            run = decision.run
            await conn.execute(
                f"INSERT INTO allocation_runs ({RUN_COLS}) VALUES ($1, $2, $3, $4, $5, $6)",
                run.run_id, run.request_hash, run.etag, encode_json(run.world_ids),
                run.response, run.created_at,
            )
            await conn.executemany(
                f"INSERT INTO allocations ({ALLOC_COLS}) VALUES ($1, $2, $3, $4, $5, $6)"
                " ON CONFLICT (world_id) DO UPDATE SET allocation = EXCLUDED.allocation,"
                " run_id = EXCLUDED.run_id, etag = EXCLUDED.etag,"
                " strategy_alloc_total = EXCLUDED.strategy_alloc_total,"
                " updated_at = EXCLUDED.updated_at",
                [
                    (
                        r.world_id, r.allocation, r.run_id, r.etag,
                        None if r.strategy_alloc_total is None
                        else encode_json(r.strategy_alloc_total),
                        r.updated_at,
                    )
                    for r in decision.records
                ],
            )
            await self._insert_events(conn, decision.events)
        return run, True

    # -- executions ----------------------------------------------------------------------

    async def save_execution(
        self, execution: ExecutionRecord, events: Sequence[CloudEvent]
    ) -> tuple[ExecutionRecord, bool]:
        """Insert the execution and its events together, or return the stored twin.

        The unique ``execution_id`` decides between concurrent twins (in every process):
        the loser's insert does nothing and it reads the winner's committed row.
        Group-committed (see ``postgres_base``) with the other writes queued beside it.

        Raises:
            ConflictError: ``execution_id`` is stored with another ``request_hash``.
        """

        async def write(conn: Any) -> tuple[ExecutionRecord, bool]:
            seq = await conn.fetchval(
                f"INSERT INTO executions ({EXEC_COLS}) VALUES ($1, $2, $3, $4, $5, $6)"
                " ON CONFLICT (execution_id) DO NOTHING RETURNING seq",
                execution.execution_id, execution.request_hash, execution.response,
                encode_json(execution.batch_ids), encode_json(execution.world_ids),
                execution.created_at,
            )
            if seq is None:
                row = await conn.fetchrow(
                    f"SELECT {EXEC_COLS} FROM executions WHERE execution_id = $1",
                    execution.execution_id,
                )
                stored = execution_record(tuple(row))
                if stored.request_hash != execution.request_hash:
                    raise ConflictError(
                        f"execution {execution.execution_id} is stored with another request",
                        code=Code.EXECUTION_CONFLICT,
                    )
                return stored, False
            await conn.executemany(
                "INSERT INTO execution_worlds (world_id, execution_seq) VALUES ($1, $2)",
                [(world, seq) for world in dict.fromkeys(execution.world_ids)],
            )
            await self._insert_events(conn, events)
            return execution, True

        return await self._grouped(write)

    async def get_execution(self, execution_id: str) -> ExecutionRecord | None:
        """Return the execution stored under ``execution_id``."""
        async with self._connection() as conn:
            row = await conn.fetchrow(
                f"SELECT {EXEC_COLS} FROM executions WHERE execution_id = $1", execution_id
            )
        return None if row is None else execution_record(tuple(row))

    async def list_executions(
        self, world_id: str | None, limit: int, before: int | None = None
    ) -> ExecutionPage:
        """Return a page of executions, newest first, optionally with a batch for a world."""
        sql, args = EXECUTIONS_NEWEST_FIRST.query(world_id, limit, before, lambda n: f"${n}")
        async with self._connection() as conn:
            rows, after = NewestFirst.page(await conn.fetch(sql, *args), limit)
        return ExecutionPage(executions=[execution_record(r) for r in rows], next=after)

    @staticmethod
    async def _select_allocations(
        conn: Any, world_ids: Sequence[str] | None
    ) -> list[AllocationRecord]:
        if world_ids is None:
            rows = await conn.fetch(f"SELECT {ALLOC_COLS} FROM allocations")
        else:
            rows = await conn.fetch(
                f"SELECT {ALLOC_COLS} FROM allocations WHERE world_id = ANY($1::text[])",
                list(dict.fromkeys(world_ids)),
            )
        return [allocation_record(tuple(r)) for r in rows]
