"""Plan use case (SPEC §4): schema negotiation, validation, planning and v1/v2 responses."""

from __future__ import annotations

import structlog

from app.contracts.rebalancing import (
    AlphaMetricsEnvelope,
    PlanResponse,
    PlanV1,
    PlanV2,
    RebalanceIntent,
    RebalanceRequest,
)
from app.errors import SchemaVersionRequiredError, ValidationFailedError
from app.metrics import compute_metrics, default_metrics
from app.telemetry import AppMetrics
from app.settings import Settings, WorldServiceServerSettings
from app.worldservice.netting import columns
from app.worldservice.planner import PlanOverflowError, PlanParts, compute_plan
from app.worldservice.validation import validate_request

__all__ = ["PlanningService", "alpha_metrics_for", "build_plan_response", "negotiate"]

log = structlog.get_logger(__name__)


def negotiate(requested: int | None, server: WorldServiceServerSettings) -> int:
    """Pick the schema version of the answer (SPEC §4).

    Args:
        requested: the request's ``schema_version`` (None means 1).
        server: the ``[worldservice.server]`` settings.

    Returns:
        ``min(requested or 1, max_version)`` where ``max_version`` is 2 when
        ``compat_rebalance_v2`` is on, else 1.

    Raises:
        SchemaVersionRequiredError: ``alpha_metrics_required`` is on and the request did not
            ask for schema 2 or later (400 ``E_SCHEMA_VERSION_REQUIRED``).
    """
    max_version = 2 if server.compat_rebalance_v2 else 1
    if server.alpha_metrics_required and not (requested is not None and requested >= 2):
        raise SchemaVersionRequiredError(
            "This WorldService requires schema_version >= 2 (alpha metrics are required).",
            extra={"required_schema_version": 2},
        )
    return max(1, min(requested or 1, max_version))


def alpha_metrics_for(request: RebalanceRequest, parts: PlanParts) -> AlphaMetricsEnvelope:
    """Compute the v2 ``alpha_metrics`` envelope from the request's realized returns.

    Every world of the plan gets ``per_world`` metrics and every strategy with positions
    (or with a series) gets ``per_strategy[strategy][world]``; 0.0 where no series is given.

    Args:
        request: the validated request.
        parts: its computed plan.

    Returns:
        The envelope; every value finite.
    """
    by_world = request.realized_returns_by_world or {}
    by_strategy = request.realized_returns_by_strategy or {}
    per_world = {
        world: compute_metrics(by_world[world]) if world in by_world else default_metrics()
        for world in parts.per_world
    }
    per_strategy: dict[str, dict[str, dict[str, float]]] = {}
    for world, plan in parts.per_world.items():
        series = by_strategy.get(world, {})
        strategies = set(plan.scale_by_strategy) | set(series)
        for strategy in sorted(strategies):
            returns = series.get(strategy)
            per_strategy.setdefault(strategy, {})[world] = (
                compute_metrics(returns) if returns is not None else default_metrics()
            )
    return AlphaMetricsEnvelope(
        per_world=per_world, per_strategy=dict(sorted(per_strategy.items()))
    )


def build_plan_response(
    request: RebalanceRequest, version: int, *, max_positions: int | None = None
) -> PlanResponse:
    """Validate and plan ``request`` and wrap the plan in the negotiated schema version.

    Args:
        request: the decoded request.
        version: the negotiated schema version (from ``negotiate``).
        max_positions: the configured position limit, if any.

    Returns:
        ``PlanV1`` (never carries v2 fields) or ``PlanV2`` (alpha metrics and the echoed
        ``rebalance_intent``, ``{"meta": {}}`` when none was sent).

    Raises:
        ValidationFailedError: the request breaks a contract rule (422).
        PayloadTooLargeError: more positions than ``max_positions`` (413).
    """
    positions = request.positions
    # The columns are built once and shared by validation and planning (not for a request
    # that is about to be refused as too large).
    cols = None if max_positions is not None and len(positions) > max_positions else (
        columns(positions)
    )
    validate_request(request, max_positions=max_positions, cols=cols)
    try:
        parts = compute_plan(request, cols)
    except PlanOverflowError as exc:
        raise ValidationFailedError(str(exc), errors=[{"path": "$", "message": str(exc)}]) from exc
    if version >= 2:
        return PlanV2(
            per_world=parts.per_world,
            global_deltas=parts.global_deltas,
            overlay_deltas=parts.overlay_deltas,
            alpha_metrics=alpha_metrics_for(request, parts),
            rebalance_intent=request.rebalance_intent or RebalanceIntent(),
        )
    return PlanV1(
        per_world=parts.per_world,
        global_deltas=parts.global_deltas,
        overlay_deltas=parts.overlay_deltas,
    )


class PlanningService:
    """``POST /worldservice/rebalancing/plan``: negotiate, validate, plan.

    Args:
        settings: the application settings.
        metrics: counts computed plans (``plan_computed``), when given.
    """

    def __init__(self, settings: Settings, metrics: AppMetrics | None = None) -> None:
        self._server = settings.worldservice.server
        self._max_positions = settings.server.max_positions
        self._metrics = metrics

    def plan(self, request: RebalanceRequest) -> PlanResponse:
        """Answer a plan request in the negotiated schema version.

        Args:
            request: the decoded request.

        Returns:
            The v1 or v2 plan.

        Raises:
            SchemaVersionRequiredError: v2 is required and was not asked for.
            ValidationFailedError: the request breaks a contract rule.
            PayloadTooLargeError: too many positions.
        """
        version = negotiate(request.schema_version, self._server)
        response = build_plan_response(request, version, max_positions=self._max_positions)
        if self._metrics is not None:
            self._metrics.plan_computed(version, request.mode.lower())
        log.debug(
            "plan_computed",
            schema_version=version,
            mode=request.mode.lower(),
            positions=len(request.positions),
            worlds=len(response.per_world),
        )
        return response
