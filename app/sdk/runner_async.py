"""The async Runner: the same negotiation as ``Runner`` on an ``AsyncGatewayClient``."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import structlog

from app.contracts.rebalancing import PlanResponse, RebalanceRequest
from app.sdk.client import AsyncGatewayClient
from app.sdk.errors import Unreachable
from app.sdk.runner import (
    EffectiveCapabilities,
    ReturnsByStrategy,
    effective_capabilities,
    shape_request,
)
from app.sdk.wire import GatewayHealth

__all__ = ["AsyncRunner"]

log = structlog.get_logger(__name__)


class AsyncRunner:
    """Async twin of ``Runner``: reads ``/health`` on start and every ``refresh_interval``
    seconds, asks for v2 only when advertised with ``alpha_metrics_capable``.

    Args:
        client: the async Gateway client (not closed by the Runner).
        refresh_interval: seconds between health reads; 0 reads before every call.
        clock: monotonic clock (seconds), for tests.
    """

    def __init__(
        self,
        client: AsyncGatewayClient,
        *,
        refresh_interval: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.refresh_interval = refresh_interval
        self._clock = clock
        self._checked_at: float | None = None
        self._caps = effective_capabilities(None)
        self.health: GatewayHealth | None = None
        self._returns: dict[str, dict[str, list[float]]] = {}

    async def start(self) -> EffectiveCapabilities:
        """Read ``/health`` now (call once on start)."""
        return await self.refresh()

    async def refresh(self) -> EffectiveCapabilities:
        """Read ``/health`` now and update the effective capabilities."""
        try:
            self.health = await self.client.health()
        except Unreachable as exc:
            log.warning("runner_health_unreachable", url=self.client.base_url, reason=exc.reason)
            self.health = None
        caps = effective_capabilities(self.health)
        if caps.schema_version != self._caps.schema_version:
            log.info("runner_schema_version_changed", before=self._caps.schema_version,
                     after=caps.schema_version)
        self._caps = caps
        self._checked_at = self._clock()
        return caps

    async def capabilities(self) -> EffectiveCapabilities:
        """The effective capabilities, re-read when the refresh interval has passed."""
        if self._checked_at is None or self._clock() - self._checked_at >= self.refresh_interval:
            await self.refresh()
        return self._caps

    def record_returns(self, world_id: str, strategy_id: str, returns: Sequence[float]) -> None:
        """Append a strategy's realized per-period returns (sent with v2 plans)."""
        self._returns.setdefault(world_id, {}).setdefault(strategy_id, []).extend(
            float(r) for r in returns
        )

    async def plan(
        self,
        request: RebalanceRequest,
        *,
        returns_by_strategy: ReturnsByStrategy | None = None,
        returns_by_world: Mapping[str, Sequence[float]] | None = None,
        intent: Mapping[str, Any] | None = None,
    ) -> PlanResponse:
        """Ask for a plan with the negotiated version; v1 or v2 comes back."""
        shaped = shape_request(
            request, await self.capabilities(), recorded=self._returns,
            returns_by_strategy=returns_by_strategy, returns_by_world=returns_by_world,
            intent=intent,
        )
        return await self.client.plan(shaped)

    async def apply(
        self,
        request: RebalanceRequest,
        *,
        run_id: str | None = None,
        returns_by_strategy: ReturnsByStrategy | None = None,
        intent: Mapping[str, Any] | None = None,
    ) -> PlanResponse:
        """Apply a plan with the negotiated version."""
        shaped = shape_request(
            request, await self.capabilities(), recorded=self._returns,
            returns_by_strategy=returns_by_strategy, intent=intent,
        )
        return await self.client.apply(shaped, run_id=run_id)
