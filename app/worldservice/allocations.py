"""The allocations use case: upserts planned against the stored allocations."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import msgspec
import structlog

from app.contracts.allocations import AllocationsReply, AllocationsRequest, AllocationView
from app.contracts.execution import PlanExecutor
from app.contracts.ids import check_id
from app.contracts.pages import encode_cursor
from app.contracts.rebalancing import PlanInputs, PlanResponse, RebalanceRequest
from app.errors import Code, ConflictError, NotFoundError, ServiceUnavailableError
from app.settings import Settings
from app.store.ports import AllocationDecision, AllocationRecord, AllocationRun, AllocationStore
from app.telemetry import AppMetrics
from app.worldservice.plans import build_plan_response
from app.worldservice.records import (
    ApplyResult,
    canonical_hash,
    decode_plan,
    planned_events,
    store_unavailable,
)
from app.worldservice.versions import negotiate

__all__ = ["ALLOCATIONS", "AllocationsService"]

ALLOCATIONS = "allocations"
"""The cursor kind of the allocations list."""

log = structlog.get_logger(__name__)

_encoder = msgspec.json.Encoder()


class AllocationsService:
    """``POST`` and ``GET /worldservice/allocations``.

    Args:
        settings: the configuration (negotiation, position limit, allocation TTL).
        store: the allocation store (upserts are serialised per world there).
        executor: hands plans to the Gateway for ``execute: true``; None when this
            deployment has no Gateway execution path.
        on_events: called after events were committed (nudges the outbox publisher).
        clock: wall clock in seconds.
    """

    def __init__(
        self,
        settings: Settings,
        store: AllocationStore,
        executor: PlanExecutor | None = None,
        on_events: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.time,
        metrics: AppMetrics | None = None,
    ) -> None:
        self._server = settings.worldservice.server
        self._max_positions = settings.server.max_positions
        self._ttl = settings.worldservice.allocation_ttl_value
        self._ttl_text = settings.worldservice.allocation_ttl_text
        self._store = store
        self._executor = executor
        self._metrics = metrics
        self._on_events = on_events
        self._clock = clock

    @staticmethod
    def hashes(request: AllocationsRequest) -> tuple[str, str]:
        """Return ``(request_hash, etag)``.

        ``request_hash`` covers the whole body but ``run_id`` (idempotency); the ``etag``
        covers what the run sets (it leaves out ``run_id``, ``etag`` and ``execute``).
        """
        body = msgspec.structs.replace(request, run_id="", mode=request.mode.lower())
        state = msgspec.structs.replace(body, etag=None, execute=False)
        return canonical_hash(body), canonical_hash(state)

    async def upsert(self, request: AllocationsRequest) -> ApplyResult:
        """Plan the new allocations against the stored ones and store them with events.

        Raises:
            SchemaVersionRequiredError: v2 is required and was not asked for (400).
            PolicyRequiresV3Error: a policy in a request that negotiated below v3 (422).
            ValidationFailedError: the request breaks a contract rule (422).
            ConflictError: ``run_id`` is stored with another body (409 E_RUN_ID_CONFLICT)
                or ``etag`` is not the current etag of the touched worlds (409
                E_ETAG_MISMATCH).
            ServiceUnavailableError: the store failed (503 E_STORE_UNAVAILABLE), or
                ``execute`` was asked without an executor (503 E_EXECUTOR_UNAVAILABLE).
        """
        for world in request.world_allocations:  # world ids key stored rows: check them first
            check_id(world, f"$.world_allocations[{json.dumps(world)}]")
        request_hash, etag = self.hashes(request)
        try:
            existing = await self._store.get_allocation_run(request.run_id)
        except Exception as exc:
            raise store_unavailable(exc) from exc
        if existing is not None:  # a stored run answers as stored, whatever changed since
            return await self._replay_and_execute(request, existing, request_hash)
        version = negotiate(
            request.schema_version, self._server, policy=request.policy is not None
        )
        if request.execute and self._executor is None:
            raise _executor_unavailable()
        computed: dict[str, Any] = {}

        def decide(
            run: AllocationRun | None, records: dict[str, AllocationRecord]
        ) -> AllocationDecision:
            if run is not None:  # a concurrent call with this run_id committed first
                self._replay(run, request_hash)
                return AllocationDecision(run=run, records=[], events=[])
            return self._decide(request, version, request_hash, etag, records, computed)

        worlds = sorted(request.world_allocations)
        try:
            run, written = await self._store.apply_allocations(request.run_id, worlds, decide)
        except Exception as exc:
            raise store_unavailable(exc) from exc
        if not written:
            return await self._replay_and_execute(request, run, request_hash)
        if self._on_events is not None:
            self._on_events()
        if self._metrics is not None:
            self._metrics.plan_computed(version, request.mode.lower())
        log.info("allocations_applied", run_id=run.run_id, worlds=len(worlds), etag=etag)
        if request.execute and self._executor is not None:
            await self._executor.execute_plan(computed["request"], computed["plan"])
            log.info("allocations_executed", run_id=run.run_id)
        return ApplyResult(
            plan=computed["plan"], body=run.response, run_id=run.run_id, replayed=False
        )

    def _decide(
        self,
        request: AllocationsRequest,
        version: int,
        request_hash: str,
        etag: str,
        records: dict[str, AllocationRecord],
        computed: dict[str, Any],
    ) -> AllocationDecision:
        """Runs with the touched worlds locked: check the etag, plan, build the writes."""
        after = request.world_allocations
        if request.etag is not None:
            stale = sorted(w for w, r in records.items() if r.etag != request.etag)
            if stale:
                raise ConflictError(
                    "etag does not match the current allocation of: " + ", ".join(stale),
                    code=Code.ETAG_MISMATCH,
                    extra={"worlds": stale, "current": {w: records[w].etag for w in stale}},
                )
        # A world without a stored allocation is taken as unchanged (before = after): the
        # first upsert records a baseline and never liquidates a world it knows nothing of.
        before = {w: records[w].allocation if w in records else a for w, a in after.items()}
        strategy_before = dict(request.strategy_alloc_before_total or {})
        for world, record in records.items():
            if record.strategy_alloc_total is not None:
                strategy_before[world] = record.strategy_alloc_total
        plan_request = _plan_request(request, before, strategy_before or None)
        plan: PlanResponse = build_plan_response(
            plan_request, version, max_positions=self._max_positions
        )
        plan = msgspec.structs.replace(
            plan, run_id=request.run_id, etag=etag, executed=request.execute
        )
        computed.update(request=plan_request, plan=plan)
        now = self._clock()
        strategy_after = request.strategy_alloc_after_total or {}
        return AllocationDecision(
            run=AllocationRun(
                run_id=request.run_id,
                request_hash=request_hash,
                etag=etag,
                world_ids=sorted(after),
                response=_encoder.encode(plan),
                created_at=now,
            ),
            records=[
                AllocationRecord(
                    world_id=world,
                    allocation=allocation,
                    run_id=request.run_id,
                    etag=etag,
                    strategy_alloc_total=strategy_after.get(world),
                    updated_at=now,
                )
                for world, allocation in sorted(after.items())
            ],
            events=planned_events(plan, request.run_id, "allocations"),
        )

    async def _replay_and_execute(
        self, request: AllocationsRequest, run: AllocationRun, request_hash: str
    ) -> ApplyResult:
        """Answer a retried run as stored; with ``execute: true`` hand its stored plan to the
        executor again. The executor keys its execution by ``run_id``, so this returns the
        first execution when it was recorded, and executes now when the first hand-off
        failed after the allocation was stored: a retry never leaves a run unexecuted."""
        result = self._replay(run, request_hash)
        if request.execute:
            if self._executor is None:
                raise _executor_unavailable()
            await self._executor.execute_plan(_plan_request(request, None, None), result.plan)
        return result

    def _replay(self, run: AllocationRun, request_hash: str) -> ApplyResult:
        if run.request_hash != request_hash:
            raise ConflictError(
                f"run_id {run.run_id!r} was already used with a different allocation payload.",
                code=Code.RUN_ID_CONFLICT,
                extra={"run_id": run.run_id},
            )
        log.info("allocations_replayed", run_id=run.run_id)
        return ApplyResult(
            plan=decode_plan(run.response), body=run.response, run_id=run.run_id, replayed=True
        )

    async def current(
        self, world_id: str | None = None, *, limit: int | None = None, after: str | None = None
    ) -> AllocationsReply:
        """Return the stored allocations: one world when ``world_id`` is given, a page of
        ``limit`` worlds (in world order, after the world ``after``) when ``limit`` is given,
        else every world.

        Raises:
            ValidationFailedError: ``world_id`` is not a valid identifier (422).
            NotFoundError: ``world_id`` has no stored allocation (404).
            ServiceUnavailableError: the store failed (503).
        """
        if world_id is not None:
            check_id(world_id, "$.world_id")
        following: str | None = None
        try:
            if world_id is None and limit is not None:
                page = await self._store.list_allocations(limit, after)
                records = {r.world_id: r for r in page.records}
                following = page.next
            else:
                records = await self._store.get_allocations(
                    None if world_id is None else [world_id])
        except Exception as exc:
            raise store_unavailable(exc) from exc
        if world_id is not None and world_id not in records:
            raise NotFoundError(
                f"world {world_id!r} has no stored allocation.",
                code=Code.WORLD_NOT_FOUND,
                extra={"world_id": world_id},
            )
        now = self._clock()
        return AllocationsReply(
            allocations={
                w: AllocationView(
                    world_id=r.world_id,
                    allocation=r.allocation,
                    run_id=r.run_id,
                    etag=r.etag,
                    strategy_alloc_total=r.strategy_alloc_total,
                    updated_at=r.updated_at,
                    ttl=self._ttl_text,
                    stale=now - r.updated_at > self._ttl,
                )
                for w, r in (records.items() if limit is not None else sorted(records.items()))
            },
            next=None if following is None else encode_cursor(ALLOCATIONS, following),
        )


def _plan_request(
    request: AllocationsRequest,
    before: dict[str, float] | None,
    strategy_before: dict[str, dict[str, float]] | None,
) -> RebalanceRequest:
    """The rebalance request an allocation run plans: its inputs, the stored
    before-allocations (``None``: the new ones, as for executing a stored plan) and the
    stored strategy allocations (they are never taken from the body)."""
    inputs = {name: getattr(request, name) for name in PlanInputs.__struct_fields__}
    inputs["strategy_alloc_before_total"] = strategy_before
    after = dict(request.world_allocations)
    return RebalanceRequest(
        **inputs, world_alloc_before=after if before is None else before, world_alloc_after=after
    )


def _executor_unavailable() -> ServiceUnavailableError:
    return ServiceUnavailableError(
        "execute: true needs the Gateway execution path in this deployment.",
        code=Code.EXECUTOR_UNAVAILABLE,
    )
