"""What apply and allocations share: the stored answer, request hashes, planned events."""

from __future__ import annotations

import hashlib

import msgspec
import structlog

from app.contracts.events import (
    EVENT_SOURCE_WORLDSERVICE,
    REBALANCING_PLANNED,
    CloudEvent,
    PlannedPayload,
    PlannedV1,
    PlannedV2,
    PlannedV3,
    new_event,
)
from app.contracts.policy import SkippedDelta, WorldProjection
from app.contracts.rebalancing import (
    PLAN_DECODER,
    AlphaMetricsEnvelope,
    PlanResponse,
    PlanV2,
    PlanV3,
)
from app.errors import AppError, Code, ServiceUnavailableError

__all__ = [
    "ApplyResult",
    "canonical_hash",
    "decode_plan",
    "planned_events",
    "store_unavailable",
]

log = structlog.get_logger(__name__)

_canonical = msgspec.json.Encoder(order="sorted")


class ApplyResult(msgspec.Struct, frozen=True, kw_only=True):
    """A stored answer: the typed plan, its response bytes, and whether it was a replay.

    ``body`` is what the first call answered, byte for byte, so a retry of a run gets the
    very same bytes back.
    """

    plan: PlanResponse
    body: bytes
    run_id: str
    replayed: bool


def decode_plan(body: bytes) -> PlanResponse:
    """Decode a stored answer."""
    return PLAN_DECODER.decode(body)


def canonical_hash(body: msgspec.Struct) -> str:
    """Return the sha256 hex digest of ``body`` encoded with sorted keys.

    Bodies that decode to the same request hash the same (key order, whitespace and
    unknown fields do not matter; callers normalise ``mode`` first).
    """
    return hashlib.sha256(_canonical.encode(body)).hexdigest()


def store_unavailable(exc: Exception) -> AppError:
    """Map a store failure to 503 ``E_STORE_UNAVAILABLE`` (AppErrors pass unchanged)."""
    if isinstance(exc, AppError):
        return exc
    log.error("store_failed", error=repr(exc))
    return ServiceUnavailableError(
        "The record store is unavailable; nothing was stored.", code=Code.STORE_UNAVAILABLE
    )


def _world_metrics(metrics: AlphaMetricsEnvelope, world_id: str) -> AlphaMetricsEnvelope:
    """Only ``world_id``'s metrics: ``per_world[w]`` and every ``per_strategy[s][w]``."""
    return AlphaMetricsEnvelope(
        per_world={world_id: metrics.per_world[world_id]} if world_id in metrics.per_world
        else {},
        per_strategy={
            strategy: {world_id: by_world[world_id]}
            for strategy, by_world in metrics.per_strategy.items()
            if world_id in by_world
        },
    )


_NO_PROJECTION = WorldProjection(
    weight_before=0.0, weight_after=0.0, target=0.0, residual=0.0, turnover_notional=0.0,
    est_cost=0.0,
)


def _skipped_by_world(plan: PlanV3) -> dict[str, list[SkippedDelta]]:
    out: dict[str, list[SkippedDelta]] = {}
    for item in plan.skipped:
        out.setdefault(item.world_id, []).append(item)
    return out


def planned_events(plan: PlanResponse, run_id: str, kind: str) -> list[CloudEvent]:
    """Build one ``rebalancing_planned`` event per world of ``plan``.

    Args:
        plan: the answer (its ``per_world`` names the worlds).
        run_id: the run the plan belongs to.
        kind: ``"apply"`` or ``"allocations"`` (part of the idempotency key).

    Returns:
        Events whose payload carries only that world's plan; v2 adds only that world's
        ``alpha_metrics`` and the ``rebalance_intent``; v3 adds only that world's
        ``skipped`` deltas and its ``projection``.
    """
    events: list[CloudEvent] = []
    skipped = _skipped_by_world(plan) if isinstance(plan, PlanV3) else {}
    for world_id, world_plan in plan.per_world.items():
        key = f"{kind}:{run_id}:{world_id}"
        payload: PlannedPayload
        if isinstance(plan, PlanV3):
            payload = PlannedV3(
                world_id=world_id, plan=world_plan, run_id=run_id, idempotency_key=key,
                alpha_metrics=_world_metrics(plan.alpha_metrics, world_id),
                rebalance_intent=plan.rebalance_intent,
                skipped=skipped.get(world_id, []),
                projection=plan.projection.per_world.get(world_id, _NO_PROJECTION),
            )
        elif isinstance(plan, PlanV2):
            payload = PlannedV2(
                world_id=world_id, plan=world_plan, run_id=run_id, idempotency_key=key,
                alpha_metrics=_world_metrics(plan.alpha_metrics, world_id),
                rebalance_intent=plan.rebalance_intent,
            )
        else:
            payload = PlannedV1(
                world_id=world_id, plan=world_plan, run_id=run_id, idempotency_key=key
            )
        events.append(
            new_event(REBALANCING_PLANNED, EVENT_SOURCE_WORLDSERVICE, payload, subject=world_id)
        )
    return events
