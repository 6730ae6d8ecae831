"""Apply use case (SPEC §6): plan, store the plan and its events at once, idempotent by run_id."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgspec
import structlog

from app.contracts.events import (
    EVENT_SOURCE_WORLDSERVICE,
    REBALANCING_PLANNED,
    SPECVERSION,
    CloudEvent,
)
from app.contracts.rebalancing import ApplyRequest, PlanResponse, PlanV1, PlanV2
from app.errors import AppError, ConflictError, ServiceUnavailableError
from app.telemetry import AppMetrics
from app.settings import Settings
from app.store.ports import PlanStore, StoredPlan
from app.worldservice.planning import build_plan_response, negotiate

__all__ = [
    "EVENT_PAYLOAD_VERSION",
    "ApplyResult",
    "ApplyingService",
    "canonical_hash",
    "planned_events",
    "store_unavailable",
]

log = structlog.get_logger(__name__)

#: ``data.version`` of ``rebalancing_planned`` events: the version of the payload layout.
EVENT_PAYLOAD_VERSION = 1

_canonical = msgspec.json.Encoder(order="sorted")
_encoder = msgspec.json.Encoder()
_plan_decoder: msgspec.json.Decoder[PlanV1 | PlanV2] = msgspec.json.Decoder(PlanV1 | PlanV2)


def canonical_hash(body: msgspec.Struct) -> str:
    """Return the sha256 hex digest of ``body`` encoded with sorted keys.

    Bodies that decode to the same request hash the same (key order, whitespace and
    unknown fields do not matter; ``mode`` is compared case-insensitively by callers that
    normalise it first).
    """
    return hashlib.sha256(_canonical.encode(body)).hexdigest()


def store_unavailable(exc: Exception) -> AppError:
    """Map a store failure to 503 ``E_STORE_UNAVAILABLE`` (AppErrors pass unchanged)."""
    if isinstance(exc, AppError):
        return exc
    log.error("store_failed", error=repr(exc))
    return ServiceUnavailableError(
        "The record store is unavailable; nothing was stored.", code="E_STORE_UNAVAILABLE"
    )


def planned_events(plan: PlanResponse, run_id: str, kind: str) -> list[CloudEvent]:
    """Build one ``rebalancing_planned`` event per world of ``plan`` (SPEC §7).

    Args:
        plan: the answer (its ``per_world`` names the worlds).
        run_id: the run the plan belongs to.
        kind: ``"apply"`` or ``"allocations"`` (part of the idempotency key).

    Returns:
        Events whose ``data`` carries only that world's plan; v2 adds only that world's
        ``alpha_metrics`` (per_world[w] and per_strategy[s][w]) and the ``rebalance_intent``.
    """
    version = 2 if isinstance(plan, PlanV2) else 1
    stamp = datetime.now(UTC).isoformat()
    events: list[CloudEvent] = []
    for world_id, world_plan in plan.per_world.items():
        data: dict[str, Any] = {
            "world_id": world_id,
            "plan": msgspec.to_builtins(world_plan),
            "version": EVENT_PAYLOAD_VERSION,
            "schema_version": version,
            "run_id": run_id,
            "idempotency_key": f"{kind}:{run_id}:{world_id}",
        }
        if isinstance(plan, PlanV2):
            metrics = plan.alpha_metrics
            data["alpha_metrics"] = {
                "per_world": {world_id: metrics.per_world[world_id]}
                if world_id in metrics.per_world
                else {},
                "per_strategy": {
                    strategy: {world_id: by_world[world_id]}
                    for strategy, by_world in metrics.per_strategy.items()
                    if world_id in by_world
                },
            }
            data["rebalance_intent"] = msgspec.to_builtins(plan.rebalance_intent)
        events.append(
            CloudEvent(
                id=str(uuid.uuid4()),
                source=EVENT_SOURCE_WORLDSERVICE,
                type=REBALANCING_PLANNED,
                subject=world_id,
                time=stamp,
                data=data,
                specversion=SPECVERSION,
            )
        )
    return events


class ApplyResult(msgspec.Struct, frozen=True, kw_only=True):
    """An apply's answer: the stored response bytes and whether it was a replay."""

    body: bytes
    run_id: str
    replayed: bool

    def plan(self) -> PlanResponse:
        """Decode the stored answer."""
        return _plan_decoder.decode(self.body)


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
        version = negotiate(request.schema_version, self._server)
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
        return ApplyResult(body=body, run_id=run_id, replayed=False)

    async def history(self, world_id: str | None, limit: int) -> list[StoredPlan]:
        """Return applied plans, newest first, optionally only those touching ``world_id``.

        Raises:
            ServiceUnavailableError: the store failed (503 E_STORE_UNAVAILABLE).
        """
        try:
            return await self._store.list_plans(world_id, limit)
        except Exception as exc:
            raise store_unavailable(exc) from exc

    @staticmethod
    def request_hash(request: ApplyRequest) -> str:
        """Hash the request without its ``run_id`` (and with ``mode`` lower-cased)."""
        return canonical_hash(
            msgspec.structs.replace(request, run_id=None, mode=request.mode.lower())
        )

    def _replay(self, stored: StoredPlan, request_hash: str) -> ApplyResult:
        if stored.request_hash != request_hash:
            raise ConflictError(
                f"run_id {stored.run_id!r} was already applied with a different request.",
                code="E_RUN_ID_CONFLICT",
                extra={"run_id": stored.run_id},
            )
        if self._metrics is not None:
            self._metrics.apply_recorded(replayed=True)
        log.info("plan_apply_replayed", run_id=stored.run_id)
        return ApplyResult(body=stored.response, run_id=stored.run_id, replayed=True)
