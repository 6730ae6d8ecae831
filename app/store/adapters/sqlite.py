"""The embedded Store adapter on one SQLite file (see ``sqlite_base`` for durability)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

from app.contracts.events import CloudEvent
from app.errors import Code, ConflictError
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
from app.store.adapters.sqlite_events import SqliteEventLog
from app.store.adapters.sqlite_keys import SqliteKeyStore
from app.store.adapters.sqlite_risk import SqliteRiskStore
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

__all__ = ["SqliteStore"]



class SqliteStore(SqliteRiskStore, SqliteKeyStore, SqliteEventLog):
    """The Store port on one SQLite file: plans, allocations, executions, trading states,
    previews, API keys, the audit log and the event log.

    Args:
        path: the database file; its folder is created on ``start``.
        clock: the wall clock in seconds (tests may pass their own).
    """

    # -- plans -------------------------------------------------------------------------

    async def save_plan(
        self, plan: StoredPlan, events: Sequence[CloudEvent]
    ) -> tuple[StoredPlan, bool]:
        """Insert ``plan`` with ``events``; return the existing plan when ``run_id`` is known."""

        def write(conn: sqlite3.Connection) -> tuple[StoredPlan, bool]:
            row = conn.execute(
                f"SELECT {PLAN_COLS} FROM plans WHERE run_id = ?", (plan.run_id,)
            ).fetchone()
            if row is not None:
                return stored_plan(row), False
            cur = conn.execute(
                "INSERT INTO plans (run_id, request_hash, schema_version, world_ids, response,"
                " event_ids, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    plan.run_id, plan.request_hash, plan.schema_version,
                    encode_json(plan.world_ids), plan.response, encode_json(plan.event_ids),
                    plan.created_at,
                ),
            )
            conn.executemany(
                "INSERT INTO plan_worlds (world_id, plan_id) VALUES (?, ?)",
                [(world, cur.lastrowid) for world in dict.fromkeys(plan.world_ids)],
            )
            self._insert_events(conn, events)
            return plan, True

        return await self._write(write)

    async def get_plan(self, run_id: str) -> StoredPlan | None:
        """Return the plan applied under ``run_id``."""
        row = await self._read(
            lambda c: c.execute(
                f"SELECT {PLAN_COLS} FROM plans WHERE run_id = ?", (run_id,)
            ).fetchone()
        )
        return None if row is None else stored_plan(row)

    async def list_plans(
        self, world_id: str | None, limit: int, before: int | None = None
    ) -> PlanPage:
        """Return a page of plans, newest first, optionally touching ``world_id``."""
        sql, args = PLANS_NEWEST_FIRST.query(world_id, limit, before, lambda _: "?")
        found = await self._read(lambda c: c.execute(sql, args).fetchall())
        rows, after = NewestFirst.page(found, limit)
        return PlanPage(plans=[stored_plan(r) for r in rows], next=after)

    # -- allocations ---------------------------------------------------------------------

    async def get_allocations(
        self, world_ids: Sequence[str] | None = None
    ) -> dict[str, AllocationRecord]:
        """Return the current records of ``world_ids`` (every world when None)."""
        rows = await self._read(lambda c: self._select_allocations(c, world_ids))
        return {r.world_id: r for r in rows}

    async def list_allocations(self, limit: int, after: str | None = None) -> AllocationPage:
        """Return a page of records in ``world_id`` order, after the world ``after``."""
        rows = await self._read(lambda c: c.execute(
            f"SELECT {ALLOC_COLS} FROM allocations WHERE world_id > ? ORDER BY world_id"
            " LIMIT ?", ("" if after is None else after, limit + 1)).fetchall())
        records = [allocation_record(r) for r in rows[:limit]]
        return AllocationPage(records=records,
                              next=records[-1].world_id if len(rows) > limit else None)

    async def get_allocation_run(self, run_id: str) -> AllocationRun | None:
        """Return the allocation run stored under ``run_id``."""
        row = await self._read(
            lambda c: c.execute(
                f"SELECT {RUN_COLS} FROM allocation_runs WHERE run_id = ?", (run_id,)
            ).fetchone()
        )
        return None if row is None else allocation_run(row)

    async def apply_allocations(
        self,
        run_id: str,
        world_ids: Sequence[str],
        decide: Callable[[AllocationRun | None, dict[str, AllocationRecord]], AllocationDecision],
    ) -> tuple[AllocationRun, bool]:
        """Call ``decide`` inside the writer transaction and write what it returns."""

        def write(conn: sqlite3.Connection) -> tuple[AllocationRun, bool]:
            row = conn.execute(
                f"SELECT {RUN_COLS} FROM allocation_runs WHERE run_id = ?", (run_id,)
            ).fetchone()
            existing = None if row is None else allocation_run(row)
            records = {r.world_id: r for r in self._select_allocations(conn, world_ids)}
            decision = decide(existing, records)
            if existing is not None and decision.run == existing:
                return existing, False
            run = decision.run
            conn.execute(
                f"INSERT INTO allocation_runs ({RUN_COLS}) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    run.run_id, run.request_hash, run.etag, encode_json(run.world_ids),
                    run.response, run.created_at,
                ),
            )
            conn.executemany(
                f"INSERT OR REPLACE INTO allocations ({ALLOC_COLS}) VALUES (?, ?, ?, ?, ?, ?)",
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
            self._insert_events(conn, decision.events)
            return run, True

        return await self._write(write)

    # -- executions ----------------------------------------------------------------------

    async def save_execution(
        self, execution: ExecutionRecord, events: Sequence[CloudEvent]
    ) -> tuple[ExecutionRecord, bool]:
        """Insert the execution and its events together, or return the stored twin.

        Raises:
            ConflictError: ``execution_id`` is stored with another ``request_hash``.
        """

        def write(conn: sqlite3.Connection) -> tuple[ExecutionRecord, bool]:
            row = conn.execute(
                f"SELECT {EXEC_COLS} FROM executions WHERE execution_id = ?",
                (execution.execution_id,),
            ).fetchone()
            if row is not None:
                stored = execution_record(row)
                if stored.request_hash != execution.request_hash:
                    raise ConflictError(
                        f"execution {execution.execution_id} is stored with another request",
                        code=Code.EXECUTION_CONFLICT,
                    )
                return stored, False
            # One writer at a time (BEGIN IMMEDIATE): the next position cannot race.
            seq = conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM executions").fetchone()[0]
            conn.execute(
                f"INSERT INTO executions ({EXEC_COLS}, seq) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    execution.execution_id, execution.request_hash, execution.response,
                    encode_json(execution.batch_ids), encode_json(execution.world_ids),
                    execution.created_at, seq,
                ),
            )
            conn.executemany(
                "INSERT INTO execution_worlds (world_id, execution_seq) VALUES (?, ?)",
                [(world, seq) for world in dict.fromkeys(execution.world_ids)],
            )
            self._insert_events(conn, events)
            return execution, True

        return await self._write(write)

    async def get_execution(self, execution_id: str) -> ExecutionRecord | None:
        """Return the execution stored under ``execution_id``."""
        row = await self._read(
            lambda c: c.execute(
                f"SELECT {EXEC_COLS} FROM executions WHERE execution_id = ?", (execution_id,)
            ).fetchone()
        )
        return None if row is None else execution_record(row)

    async def list_executions(
        self, world_id: str | None, limit: int, before: int | None = None
    ) -> ExecutionPage:
        """Return a page of executions, newest first, optionally with a batch for a world."""
        sql, args = EXECUTIONS_NEWEST_FIRST.query(world_id, limit, before, lambda _: "?")
        found = await self._read(lambda c: c.execute(sql, args).fetchall())
        rows, after = NewestFirst.page(found, limit)
        return ExecutionPage(executions=[execution_record(r) for r in rows], next=after)

    @staticmethod
    def _select_allocations(
        conn: sqlite3.Connection, world_ids: Sequence[str] | None
    ) -> list[AllocationRecord]:
        if world_ids is None:
            rows = conn.execute(f"SELECT {ALLOC_COLS} FROM allocations").fetchall()
        else:
            wanted = list(dict.fromkeys(world_ids))
            rows = []
            for start in range(0, len(wanted), 500):  # stay under SQLite's variable limit
                chunk = wanted[start : start + 500]
                rows.extend(
                    conn.execute(
                        f"SELECT {ALLOC_COLS} FROM allocations WHERE world_id IN"
                        f" ({', '.join('?' for _ in chunk)})",
                        chunk,
                    ).fetchall()
                )
        return [allocation_record(r) for r in rows]

