"""The strategy Runner: reads the Gateway's capability bits and negotiates v1/v2/v3 plans."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar, overload

from app.contracts.policy import RebalancePolicy
from app.contracts.rebalancing import PlanResponse, RebalanceRequest
from app.sdk.calls import RequestLike
from app.sdk.client import AsyncGatewayClient, GatewayClient
from app.sdk.errors import Unreachable
from app.sdk.logs import get_logger
from app.sdk.shaping import (
    EffectiveCapabilities,
    ReturnsByStrategy,
    effective_capabilities,
    shape_request,
)
from app.sdk.wire import GatewayHealth

__all__ = [
    "EffectiveCapabilities",
    "ReturnsByStrategy",
    "Runner",
    "effective_capabilities",
    "shape_request",
]

log = get_logger(__name__)


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
        request: RequestLike,
        caps: EffectiveCapabilities,
        returns_by_strategy: ReturnsByStrategy | None,
        returns_by_world: Mapping[str, Sequence[float]] | None,
        intent: Mapping[str, Any] | None,
        policy: RebalancePolicy | None = None,
    ) -> RequestLike:
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

    @overload
    def build_request(
        self, request: RebalanceRequest, *,
        returns_by_strategy: ReturnsByStrategy | None = ...,
        returns_by_world: Mapping[str, Sequence[float]] | None = ...,
        intent: Mapping[str, Any] | None = ..., policy: RebalancePolicy | None = ...,
    ) -> RebalanceRequest: ...

    @overload
    def build_request(
        self, request: Mapping[str, Any], *,
        returns_by_strategy: ReturnsByStrategy | None = ...,
        returns_by_world: Mapping[str, Sequence[float]] | None = ...,
        intent: Mapping[str, Any] | None = ..., policy: RebalancePolicy | None = ...,
    ) -> dict[str, Any]: ...

    def build_request(
        self,
        request: RequestLike,
        *,
        returns_by_strategy: ReturnsByStrategy | None = None,
        returns_by_world: Mapping[str, Sequence[float]] | None = None,
        intent: Mapping[str, Any] | None = None,
        policy: RebalancePolicy | None = None,
    ) -> RequestLike:
        """Shape a request (a ``RebalanceRequest`` or a dict) for the current capabilities
        (see ``shape_request``)."""
        return shape_request(
            request, self.capabilities, recorded=self._returns,
            returns_by_strategy=returns_by_strategy, returns_by_world=returns_by_world,
            intent=intent, policy=policy,
        )

    def plan(
        self,
        request: RequestLike,
        *,
        returns_by_strategy: ReturnsByStrategy | None = None,
        returns_by_world: Mapping[str, Sequence[float]] | None = None,
        intent: Mapping[str, Any] | None = None,
        policy: RebalancePolicy | None = None,
    ) -> PlanResponse:
        """Ask the Gateway for a plan with the negotiated version; v1, v2 or v3 comes back.

        ``request`` is a ``RebalanceRequest`` or a plain dict in the wire shape.

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
        request: RequestLike,
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
