"""The PlanExecutor port: how WorldService hands an allocation's plan to the Gateway."""

from __future__ import annotations

from typing import Any, Protocol

from app.contracts.rebalancing import PlanV1, PlanV2, RebalanceRequest

__all__ = ["PlanExecutor"]


class PlanExecutor(Protocol):
    """Submits a plan as ``POST /rebalancing/execute?submit=true`` would.

    WorldService calls it for ``POST /worldservice/allocations`` with ``execute: true``
    after the allocation is stored. A retry of the same ``run_id`` calls it again, so an
    implementation should be idempotent per plan (the Gateway records executions).
    """

    async def execute_plan(
        self, request: RebalanceRequest, plan: PlanV1 | PlanV2
    ) -> dict[str, Any]:
        """Submit ``plan`` (computed from ``request``); return the execute response."""
        ...
