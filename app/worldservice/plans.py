"""The plan use case: negotiate the version, validate, plan, answer v1, v2 or v3."""

from __future__ import annotations

import anyio.to_thread
import structlog

from app.contracts.rebalancing import (
    AlphaMetricsEnvelope,
    PlanResponse,
    PlanV1,
    PlanV2,
    PlanV3,
    RebalanceIntent,
    RebalanceRequest,
)
from app.errors import ValidationFailedError
from app.metrics import compute_metrics, default_metrics
from app.settings import Settings
from app.telemetry import AppMetrics
from app.worldservice.planner import PlanOverflowError, PlanParts, columns, compute_plan
from app.worldservice.validation import validate_request
from app.worldservice.versions import negotiate

__all__ = ["INLINE_PLAN_POSITIONS", "PlanningService", "alpha_metrics_for", "build_plan_response"]

INLINE_PLAN_POSITIONS = 20_000
"""Plans with fewer positions run inline on the event loop, bigger ones in a worker thread."""

log = structlog.get_logger(__name__)


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
        ``PlanV1`` (never carries v2 fields), ``PlanV2`` (alpha metrics and the echoed
        ``rebalance_intent``, ``{"meta": {}}`` when none was sent) or ``PlanV3`` (v2 plus
        ``skipped``, ``projection`` and, with a cash policy, ``funding``).

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
        parts = compute_plan(request, cols, explain=version >= 3)
    except PlanOverflowError as exc:  # a 422 naming where the too-large figures came from
        errors = [{"path": path, "message": str(exc)} for path in exc.paths]
        raise ValidationFailedError(f"{str(exc)} (at {exc.paths[0]})", errors=errors) from exc
    if version >= 3 and parts.skipped is not None and parts.projection is not None:
        return PlanV3(
            per_world=parts.per_world,
            global_deltas=parts.global_deltas,
            overlay_deltas=parts.overlay_deltas,
            alpha_metrics=alpha_metrics_for(request, parts),
            rebalance_intent=request.rebalance_intent or RebalanceIntent(),
            skipped=parts.skipped,
            projection=parts.projection,
            funding=parts.funding,
        )
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
            The v1, v2 or v3 plan.

        Raises:
            SchemaVersionRequiredError: v2 is required and was not asked for.
            PolicyRequiresV3Error: a policy in a request that negotiated below v3.
            ValidationFailedError: the request breaks a contract rule.
            PayloadTooLargeError: too many positions.
        """
        version = negotiate(
            request.schema_version, self._server, policy=request.policy is not None
        )
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

    async def answer(self, request: RebalanceRequest) -> PlanResponse:
        """``plan`` for a request being served: inline, or in a worker thread when big.

        Planning is pure CPU work. Ordinary requests are planned inline on the event loop (a
        10k-position plan takes about 10 ms of CPU, less than it could wait for a worker
        thread); bigger ones go to a worker thread so the loop keeps serving other requests
        in between (the GIL still shares one core between them).
        """
        if len(request.positions) < INLINE_PLAN_POSITIONS:
            return self.plan(request)
        return await anyio.to_thread.run_sync(self.plan, request)
