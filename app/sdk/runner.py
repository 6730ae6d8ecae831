"""The strategy Runner: reads the Gateway's capability bits and negotiates v1/v2/v3 plans."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

import msgspec
import structlog

from app.contracts.policy import RebalancePolicy
from app.contracts.rebalancing import (
    LATEST_SCHEMA_VERSION,
    PlanResponse,
    RebalanceIntent,
    RebalanceRequest,
)
from app.sdk.client import AsyncGatewayClient, GatewayClient
from app.sdk.errors import Unreachable
from app.sdk.wire import GatewayHealth

__all__ = [
    "EffectiveCapabilities",
    "ReturnsByStrategy",
    "Runner",
    "effective_capabilities",
    "shape_request",
]

log = structlog.get_logger(__name__)


class EffectiveCapabilities(msgspec.Struct, frozen=True, kw_only=True):
    """What the Runner will actually use, derived from the last ``/health``.

    Attributes:
        schema_version: the highest version the Gateway advertises (at most the newest this
            SDK knows) when it is alpha-capable, else 1: v2 and v3 answers carry metrics.
        alpha_metrics: whether plans will carry (and the Runner will send) metrics.
        advertised_schema_version: the Gateway's ``rebalance_schema_version``.
        advertised_alpha_metrics: the Gateway's ``alpha_metrics_capable``.
        reachable: False when the last health read failed (the Runner then uses v1).
        status: the Gateway's ``status`` (``unreachable`` when it could not be read).
    """

    schema_version: int
    alpha_metrics: bool
    advertised_schema_version: int
    advertised_alpha_metrics: bool
    reachable: bool = True
    status: str = "ok"


def effective_capabilities(health: GatewayHealth | None) -> EffectiveCapabilities:
    """Derive the effective capabilities from a health answer (None = unreachable)."""
    if health is None:
        return EffectiveCapabilities(
            schema_version=1, alpha_metrics=False, advertised_schema_version=1,
            advertised_alpha_metrics=False, reachable=False, status="unreachable",
        )
    alpha = health.rebalance_schema_version >= 2 and health.alpha_metrics_capable
    version = min(health.rebalance_schema_version, LATEST_SCHEMA_VERSION) if alpha else 1
    return EffectiveCapabilities(
        schema_version=version,
        alpha_metrics=alpha,
        advertised_schema_version=health.rebalance_schema_version,
        advertised_alpha_metrics=health.alpha_metrics_capable,
        status=health.status,
    )


ReturnsByStrategy = Mapping[str, Mapping[str, Sequence[float]]]


def shape_request(
    request: RebalanceRequest,
    caps: EffectiveCapabilities,
    *,
    recorded: ReturnsByStrategy | None = None,
    returns_by_strategy: ReturnsByStrategy | None = None,
    returns_by_world: Mapping[str, Sequence[float]] | None = None,
    intent: Mapping[str, Any] | None = None,
    policy: RebalancePolicy | None = None,
) -> RebalanceRequest:
    """Shape a request for ``caps``: v2/v3 with returns and intent, or a clean v1 one.

    A policy (given here or already on ``request``) is always sent: a Gateway that cannot
    negotiate v3 refuses it with 422 ``E_POLICY_REQUIRES_V3``, so a policy is never
    silently dropped.

    Args:
        request: the base request (its own v2 fields are replaced).
        caps: the effective capabilities.
        recorded: returns recorded so far, ``{world: {strategy: returns}}``.
        returns_by_strategy: more strategy returns, taking precedence over ``recorded``.
        returns_by_world: ``{world: returns}``.
        intent: ``rebalance_intent.meta``.
        policy: a rebalancing policy (schema v3), replacing the request's own.

    Returns:
        With v2 or v3: that ``schema_version``, the returns and the intent. With v1: no
        ``schema_version``, no returns and no intent (what a v1 client sends).
    """
    if policy is not None:
        request = msgspec.structs.replace(request, policy=policy)
    if caps.schema_version < 2:
        return msgspec.structs.replace(
            request, schema_version=None, rebalance_intent=None,
            realized_returns_by_world=None, realized_returns_by_strategy=None,
        )
    by_strategy: dict[str, dict[str, list[float]]] = {}
    for source in (recorded or {}, returns_by_strategy or {}):
        for world, strategies in source.items():
            for strategy, series in strategies.items():
                by_strategy.setdefault(world, {})[strategy] = [float(r) for r in series]
    by_world = {w: [float(r) for r in s] for w, s in (returns_by_world or {}).items()}
    return msgspec.structs.replace(
        request,
        schema_version=caps.schema_version,
        rebalance_intent=RebalanceIntent(meta=dict(intent or {})),
        realized_returns_by_world=by_world or request.realized_returns_by_world,
        realized_returns_by_strategy=by_strategy or request.realized_returns_by_strategy,
    )


C = TypeVar("C", GatewayClient, AsyncGatewayClient)


class _Negotiation(Generic[C]):
    """The Runner's decisions without its I/O: when to re-read ``/health``, which version
    the answer allows, and how to shape a request for it (shared by both Runners).

    Args:
        client: the Gateway client (the Runner does not close it).
        refresh_interval: seconds between health reads; 0 reads before every call.
        clock: monotonic clock (seconds), for tests.
    """

    _log: Any = log

    def __init__(
        self,
        client: C,
        *,
        refresh_interval: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client: C = client
        self.refresh_interval = refresh_interval
        self._clock = clock
        self._checked_at: float | None = None
        self._caps = effective_capabilities(None)
        self.health: GatewayHealth | None = None
        self._returns: dict[str, dict[str, list[float]]] = {}

    def record_returns(self, world_id: str, strategy_id: str, returns: Sequence[float]) -> None:
        """Append a strategy's realized per-period returns (sent with v2 plans)."""
        self._returns.setdefault(world_id, {}).setdefault(strategy_id, []).extend(
            float(r) for r in returns
        )

    def _due(self) -> bool:
        """Whether ``/health`` must be read before the next call."""
        return self._checked_at is None or self._clock() - self._checked_at >= self.refresh_interval

    def _observe(
        self, health: GatewayHealth | None, failure: Unreachable | None = None
    ) -> EffectiveCapabilities:
        """Take a ``/health`` answer (None with the failure when unreachable)."""
        if failure is not None:
            self._log.warning("runner_health_unreachable", url=self.client.base_url,
                              reason=failure.reason)
        self.health = health
        caps = effective_capabilities(health)
        if caps.schema_version != self._caps.schema_version:
            self._log.info("runner_schema_version_changed", before=self._caps.schema_version,
                           after=caps.schema_version)
        self._caps = caps
        self._checked_at = self._clock()
        return caps

    def _shape(
        self,
        request: RebalanceRequest,
        caps: EffectiveCapabilities,
        returns_by_strategy: ReturnsByStrategy | None,
        returns_by_world: Mapping[str, Sequence[float]] | None,
        intent: Mapping[str, Any] | None,
        policy: RebalancePolicy | None = None,
    ) -> RebalanceRequest:
        return shape_request(
            request, caps, recorded=self._returns, returns_by_strategy=returns_by_strategy,
            returns_by_world=returns_by_world, intent=intent, policy=policy,
        )


class Runner(_Negotiation[GatewayClient]):
    """Plans through a Gateway with the best schema version it currently supports.

    The Runner reads ``/health`` on start and again when ``refresh_interval`` seconds have
    passed. With v2 (or v3) it sends that ``schema_version``, the strategies' realized
    returns and the intent, so the plan carries real ``alpha_performance`` metrics (and,
    with v3, what its policy skipped and the projection); with v1 it sends none of them (no
    ``schema_version`` key at all), exactly what a v1 client sends.

    Args:
        client: the Gateway client (the Runner does not close it).
        refresh_interval: seconds between health reads; 0 reads before every call.
        clock: monotonic clock (seconds), for tests.
    """

    def start(self) -> EffectiveCapabilities:
        """Read ``/health`` now (call once on start)."""
        return self.refresh()

    def refresh(self) -> EffectiveCapabilities:
        """Read ``/health`` now and update the effective capabilities."""
        try:
            health = self.client.health()
        except Unreachable as exc:
            return self._observe(None, exc)
        return self._observe(health)

    @property
    def capabilities(self) -> EffectiveCapabilities:
        """The effective capabilities, re-read when the refresh interval has passed."""
        if self._due():
            self.refresh()
        return self._caps

    def build_request(
        self,
        request: RebalanceRequest,
        *,
        returns_by_strategy: ReturnsByStrategy | None = None,
        returns_by_world: Mapping[str, Sequence[float]] | None = None,
        intent: Mapping[str, Any] | None = None,
        policy: RebalancePolicy | None = None,
    ) -> RebalanceRequest:
        """Shape a request for the current capabilities (see ``shape_request``)."""
        return self._shape(request, self.capabilities, returns_by_strategy, returns_by_world,
                           intent, policy)

    def plan(
        self,
        request: RebalanceRequest,
        *,
        returns_by_strategy: ReturnsByStrategy | None = None,
        returns_by_world: Mapping[str, Sequence[float]] | None = None,
        intent: Mapping[str, Any] | None = None,
        policy: RebalancePolicy | None = None,
    ) -> PlanResponse:
        """Ask the Gateway for a plan with the negotiated version; v1, v2 or v3 comes back.

        Raises:
            WorldgateError: 422 ``E_POLICY_REQUIRES_V3`` when ``policy`` is given and the
                deployment cannot answer v3 (and any other refusal).
        """
        return self.client.plan(self.build_request(
            request, returns_by_strategy=returns_by_strategy,
            returns_by_world=returns_by_world, intent=intent, policy=policy,
        ))

    def apply(
        self,
        request: RebalanceRequest,
        *,
        run_id: str | None = None,
        returns_by_strategy: ReturnsByStrategy | None = None,
        intent: Mapping[str, Any] | None = None,
        policy: RebalancePolicy | None = None,
    ) -> PlanResponse:
        """Apply a plan through the Gateway with the negotiated version."""
        shaped = self.build_request(request, returns_by_strategy=returns_by_strategy,
                                    intent=intent, policy=policy)
        return self.client.apply(shaped, run_id=run_id)
