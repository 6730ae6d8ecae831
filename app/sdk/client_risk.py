"""The two-phase execution and trading-state methods of the Gateway clients (sync, async)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, TypeVar

from app.contracts.orders import ExecuteResponse
from app.contracts.risk import (
    RiskHistoryReply,
    RiskLimitsView,
    RiskStateReply,
    ScopedStateView,
)
from app.sdk import calls
from app.sdk.calls import Call, as_type

__all__ = ["AsyncRiskMethods", "RiskMethods", "preview_handle"]

T = TypeVar("T")
_execution = as_type(ExecuteResponse)
_scoped = as_type(ScopedStateView)


def preview_handle(preview: ExecuteResponse | Mapping[str, Any]) -> tuple[str, str]:
    """``(execution_id, etag)`` of a preview answer (typed or decoded JSON).

    Raises:
        ValueError: the answer is not a stored preview (no id or etag).
    """
    if isinstance(preview, ExecuteResponse):
        execution_id, etag = preview.execution_id, preview.etag
    else:
        execution_id, etag = preview.get("execution_id"), preview.get("etag")
    if not isinstance(execution_id, str) or not isinstance(etag, str):
        raise ValueError("not a preview: it has no execution_id and etag")
    return execution_id, etag


def _set(
    state: str, reason: str, world_id: str | None, etag: str | None
) -> Call[ScopedStateView]:
    return calls.set_risk_state(state, reason, world_id=world_id, etag=etag).then(_scoped)


class RiskMethods(ABC):
    """Previews, submits and trading states for ``GatewayClient`` (blocking)."""

    @abstractmethod
    def _run(self, call: Call[T]) -> T:
        """Implemented by the class this is mixed into."""

    def get_execution(self, execution_id: str) -> ExecuteResponse:
        """``GET /rebalancing/executions/{id}``: submitted, else the live preview."""
        return self._run(calls.execution(execution_id).then(_execution))

    def submit_execution(
        self, execution_id: str, etag: str, *, allow_live: bool = False
    ) -> ExecuteResponse:
        """Submit a preview: exactly its orders, re-checked under the current risk state.

        Raises:
            PreconditionFailed: the orders would differ now (``.preview`` is the fresh
                preview) or ``etag`` is not the preview's.
            PreviewExpired: past the preview TTL.
            RiskRejected: every order denied, or a denial with ``all_or_nothing``.
        """
        call = calls.submit_execution(execution_id, etag, allow_live=allow_live)
        return self._run(call.then(_execution))

    def submit_preview(
        self, preview: ExecuteResponse | Mapping[str, Any], *, allow_live: bool = False
    ) -> ExecuteResponse:
        """``submit_execution`` with the id and etag of a preview answer."""
        execution_id, etag = preview_handle(preview)
        return self.submit_execution(execution_id, etag, allow_live=allow_live)

    def risk_state(self) -> RiskStateReply:
        """``GET /risk/state``: the global state and every world ever set."""
        return self._run(calls.risk_state().then(as_type(RiskStateReply)))

    def world_state(self, world_id: str) -> ScopedStateView:
        """``GET /risk/worlds/{world_id}``."""
        return self._run(calls.world_state(world_id).then(_scoped))

    def set_risk_state(
        self, state: str, reason: str, *, world_id: str | None = None, etag: str | None = None
    ) -> ScopedStateView:
        """Set the global state (``world_id`` None) or a world's; ``etag``: only if the
        state is still at it (else ``PreconditionFailed`` with ``.current``)."""
        return self._run(_set(state, reason, world_id, etag))

    def halt(self, reason: str, *, world_id: str | None = None) -> ScopedStateView:
        """Set ``HALTED``: nothing passes."""
        return self.set_risk_state("HALTED", reason, world_id=world_id)

    def reduce(self, reason: str, *, world_id: str | None = None) -> ScopedStateView:
        """Set ``REDUCING``: only orders that shrink |position| pass."""
        return self.set_risk_state("REDUCING", reason, world_id=world_id)

    def resume(self, reason: str, *, world_id: str | None = None) -> ScopedStateView:
        """Set ``ACTIVE`` again."""
        return self.set_risk_state("ACTIVE", reason, world_id=world_id)

    def risk_history(
        self, *, scope: str | None = None, world_id: str | None = None, limit: int = 100,
        before: int | None = None,
    ) -> RiskHistoryReply:
        """``GET /risk/history``: changes newest first; page with ``before=next_before``."""
        call = calls.risk_history(scope=scope, world_id=world_id, limit=limit, before=before)
        return self._run(call.then(as_type(RiskHistoryReply)))

    def risk_limits(self) -> RiskLimitsView:
        """``GET /risk/limits``: the limits in force."""
        return self._run(calls.risk_limits().then(as_type(RiskLimitsView)))


class AsyncRiskMethods(ABC):
    """The same methods for ``AsyncGatewayClient``, awaited."""

    @abstractmethod
    async def _run(self, call: Call[T]) -> T:
        """Implemented by the class this is mixed into."""

    async def get_execution(self, execution_id: str) -> ExecuteResponse:
        """``GET /rebalancing/executions/{id}``."""
        return await self._run(calls.execution(execution_id).then(_execution))

    async def submit_execution(
        self, execution_id: str, etag: str, *, allow_live: bool = False
    ) -> ExecuteResponse:
        """Submit a preview; see ``GatewayClient.submit_execution``."""
        call = calls.submit_execution(execution_id, etag, allow_live=allow_live)
        return await self._run(call.then(_execution))

    async def submit_preview(
        self, preview: ExecuteResponse | Mapping[str, Any], *, allow_live: bool = False
    ) -> ExecuteResponse:
        """``submit_execution`` with the id and etag of a preview answer."""
        execution_id, etag = preview_handle(preview)
        return await self.submit_execution(execution_id, etag, allow_live=allow_live)

    async def risk_state(self) -> RiskStateReply:
        """``GET /risk/state``."""
        return await self._run(calls.risk_state().then(as_type(RiskStateReply)))

    async def world_state(self, world_id: str) -> ScopedStateView:
        """``GET /risk/worlds/{world_id}``."""
        return await self._run(calls.world_state(world_id).then(_scoped))

    async def set_risk_state(
        self, state: str, reason: str, *, world_id: str | None = None, etag: str | None = None
    ) -> ScopedStateView:
        """Set a trading state; see ``GatewayClient.set_risk_state``."""
        return await self._run(_set(state, reason, world_id, etag))

    async def halt(self, reason: str, *, world_id: str | None = None) -> ScopedStateView:
        """Set ``HALTED``."""
        return await self.set_risk_state("HALTED", reason, world_id=world_id)

    async def reduce(self, reason: str, *, world_id: str | None = None) -> ScopedStateView:
        """Set ``REDUCING``."""
        return await self.set_risk_state("REDUCING", reason, world_id=world_id)

    async def resume(self, reason: str, *, world_id: str | None = None) -> ScopedStateView:
        """Set ``ACTIVE`` again."""
        return await self.set_risk_state("ACTIVE", reason, world_id=world_id)

    async def risk_history(
        self, *, scope: str | None = None, world_id: str | None = None, limit: int = 100,
        before: int | None = None,
    ) -> RiskHistoryReply:
        """``GET /risk/history``."""
        call = calls.risk_history(scope=scope, world_id=world_id, limit=limit, before=before)
        return await self._run(call.then(as_type(RiskHistoryReply)))

    async def risk_limits(self) -> RiskLimitsView:
        """``GET /risk/limits``."""
        return await self._run(calls.risk_limits().then(as_type(RiskLimitsView)))
