"""The PlanExecutor port: how WorldService hands an allocation's plan to the Gateway."""

from __future__ import annotations

from typing import Any, Protocol

from app.contracts.rebalancing import PlanResponse, RebalanceRequest

__all__ = ["PlanExecutor"]


class PlanExecutor(Protocol):
    """Submits a plan as ``POST /rebalancing/execute?submit=true`` would.

    WorldService calls it for ``POST /worldservice/allocations`` with ``execute: true``
    after the allocation is stored. A retry of the same ``run_id`` calls it again with the
    stored plan (so a hand-off that failed after the allocation was stored is completed by
    the retry); an implementation must be idempotent per ``plan.run_id`` (the Gateway keys
    the execution by it and returns the recorded one).
    """

    async def execute_plan(
        self, request: RebalanceRequest, plan: PlanResponse
    ) -> dict[str, Any]:
        """Submit ``plan`` (computed from ``request``); return the execute response."""
        ...
