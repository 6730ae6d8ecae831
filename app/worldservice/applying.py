"""The apply use case: plan, store the plan and its events at once, idempotent by run_id."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import msgspec
import structlog

from app.contracts.ids import check_id
from app.contracts.rebalancing import ApplyRequest
from app.errors import Code, ConflictError, NotFoundError
from app.settings import Settings
from app.store.ports import PlanPage, PlanStore, StoredPlan
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

__all__ = ["ApplyingService"]

log = structlog.get_logger(__name__)

_encoder = msgspec.json.Encoder()


class ApplyingService:
    """``POST /worldservice/rebalancing/apply``.

    Args:
        settings: the configuration (negotiation switches, position limit).
        store: where plans and their events are stored together.
        on_events: called after events were committed (nudges the outbox publisher).
        metrics: counts applies (``apply_recorded``), when given.
    """

    def __init__(
        self,
        settings: Settings,
        store: PlanStore,
        on_events: Callable[[], None] | None = None,
        metrics: AppMetrics | None = None,
    ) -> None:
        self._server = settings.worldservice.server
        self._max_positions = settings.server.max_positions
        self._store = store
        self._on_events = on_events
        self._metrics = metrics

    async def apply(self, request: ApplyRequest) -> ApplyResult:
        """Plan ``request`` and store it with one event per world, or replay its run.

        Raises:
            SchemaVersionRequiredError: v2 is required and was not asked for (400).
            PolicyRequiresV3Error: a policy in a request that negotiated below v3 (422).
            ValidationFailedError: the request breaks a contract rule (422).
            ConflictError: ``run_id`` is stored with another body (409 E_RUN_ID_CONFLICT).
            ServiceUnavailableError: the store failed (503 E_STORE_UNAVAILABLE); nothing
                was stored and no event will be sent.
        """
        request_hash = self.request_hash(request)
        if request.run_id is not None:  # a stored run answers as stored, whatever changed since
            try:
                existing = await self._store.get_plan(request.run_id)
            except Exception as exc:
                raise store_unavailable(exc) from exc
            if existing is not None:
                return self._replay(existing, request_hash)
        version = negotiate(
            request.schema_version, self._server, policy=request.policy is not None
        )
        run_id = request.run_id or str(uuid.uuid4())
        plan = build_plan_response(request, version, max_positions=self._max_positions)
        plan = msgspec.structs.replace(plan, run_id=run_id)
        body = _encoder.encode(plan)
        events = planned_events(plan, run_id, "apply")
        record = StoredPlan(
            run_id=run_id,
            request_hash=request_hash,
            schema_version=version,
            world_ids=list(plan.per_world),
            response=body,
            event_ids=[e.id for e in events],
            created_at=time.time(),
        )
        try:
            stored, inserted = await self._store.save_plan(record, events)
        except Exception as exc:
            raise store_unavailable(exc) from exc
        if not inserted:  # a concurrent apply with the same run_id won the race
            return self._replay(stored, request_hash)
        if self._on_events is not None:
            self._on_events()
        if self._metrics is not None:
            self._metrics.plan_computed(version, request.mode.lower())
            self._metrics.apply_recorded(replayed=False)
        log.info("plan_applied", run_id=run_id, worlds=len(events), schema_version=version)
        return ApplyResult(plan=plan, body=body, run_id=run_id, replayed=False)

    async def history(
        self, world_id: str | None, limit: int, before: int | None = None
    ) -> PlanPage:
        """Return a page of applied plans, newest first, optionally only those touching
        ``world_id``, after store position ``before``.

        Raises:
            ValidationFailedError: ``world_id`` is not a valid identifier (422).
            ServiceUnavailableError: the store failed (503 E_STORE_UNAVAILABLE).
        """
        if world_id is not None:
            check_id(world_id, "$.world_id")
        try:
            return await self._store.list_plans(world_id, limit, before)
        except Exception as exc:
            raise store_unavailable(exc) from exc

    async def applied(self, run_id: str) -> StoredPlan:
        """Return the plan applied under ``run_id``.

        Raises:
            NotFoundError: 404 ``E_PLAN_NOT_FOUND``.
            ServiceUnavailableError: the store failed (503 E_STORE_UNAVAILABLE).
        """
        try:
            stored = await self._store.get_plan(run_id)
        except Exception as exc:
            raise store_unavailable(exc) from exc
        if stored is None:
            raise NotFoundError(f"No plan was applied under run_id {run_id!r}.",
                                code=Code.PLAN_NOT_FOUND)
        return stored

    @staticmethod
    def request_hash(request: ApplyRequest) -> str:
        """Hash what the request means: without its ``run_id`` and ``schema_version``, with
        ``mode`` lower-cased.

        ``schema_version`` is negotiation, not meaning: the Gateway sets it to its configured
        version before forwarding, so the same request sent to WorldService directly, or
        through a Gateway configured for another version, is still the same request (and a
        retry replays the answer stored in the version first negotiated).
        """
        return canonical_hash(
            msgspec.structs.replace(
                request, run_id=None, schema_version=None, mode=request.mode.lower()
            )
        )

    def _replay(self, stored: StoredPlan, request_hash: str) -> ApplyResult:
        if stored.request_hash != request_hash:
            raise ConflictError(
                f"run_id {stored.run_id!r} was already applied with a different request.",
                code=Code.RUN_ID_CONFLICT,
                extra={"run_id": stored.run_id},
            )
        if self._metrics is not None:
            self._metrics.apply_recorded(replayed=True)
        log.info("plan_apply_replayed", run_id=stored.run_id)
        return ApplyResult(
            plan=decode_plan(stored.response), body=stored.response, run_id=stored.run_id,
            replayed=True,
        )
