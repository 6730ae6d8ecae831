"""The async Runner: the same negotiation as ``Runner`` on an ``AsyncGatewayClient``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from app.contracts.policy import RebalancePolicy
from app.contracts.rebalancing import PlanResponse
from app.sdk.calls import RequestLike
from app.sdk.client import AsyncGatewayClient
from app.sdk.errors import Unreachable
from app.sdk.logs import get_logger
from app.sdk.runner import EffectiveCapabilities, ReturnsByStrategy, _Negotiation

__all__ = ["AsyncRunner"]

log = get_logger(__name__)


class AsyncRunner(_Negotiation[AsyncGatewayClient]):
    """Async twin of ``Runner``: reads ``/health`` on start and every ``refresh_interval``
    seconds, asks for v2 or v3 only when advertised with ``alpha_metrics_capable``.

    Args:
        client: the async Gateway client (not closed by the Runner).
        refresh_interval: seconds between health reads; 0 reads before every call.
        clock: monotonic clock (seconds), for tests.
    """

    _log = log

    async def start(self) -> EffectiveCapabilities:
        """Read ``/health`` now (call once on start)."""
        return await self.refresh()

    async def refresh(self) -> EffectiveCapabilities:
        """Read ``/health`` now and update the effective capabilities."""
        try:
            health = await self.client.health()
        except Unreachable as exc:
            return self._observe(None, exc)
        return self._observe(health)

    async def capabilities(self) -> EffectiveCapabilities:
        """The effective capabilities, re-read when the refresh interval has passed."""
        if self._due():
            await self.refresh()
        return self._caps

    async def plan(
        self,
        request: RequestLike,
        *,
        returns_by_strategy: ReturnsByStrategy | None = None,
        returns_by_world: Mapping[str, Sequence[float]] | None = None,
        intent: Mapping[str, Any] | None = None,
        policy: RebalancePolicy | None = None,
    ) -> PlanResponse:
        """Ask for a plan with the negotiated version; v1, v2 or v3 comes back."""
        caps = await self.capabilities()
        return await self.client.plan(
            self._shape(request, caps, returns_by_strategy, returns_by_world, intent, policy))

    async def apply(
        self,
        request: RequestLike,
        *,
        run_id: str | None = None,
        returns_by_strategy: ReturnsByStrategy | None = None,
        intent: Mapping[str, Any] | None = None,
        policy: RebalancePolicy | None = None,
    ) -> PlanResponse:
        """Apply a plan with the negotiated version."""
        caps = await self.capabilities()
        return await self.client.apply(
            self._shape(request, caps, returns_by_strategy, None, intent, policy),
            run_id=run_id)
