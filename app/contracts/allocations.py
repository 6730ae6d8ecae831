"""Allocation wire types (SPEC §6): the upsert body and the stored-allocation view."""

from __future__ import annotations

import msgspec

from app.contracts.ids import Identifier
from app.contracts.rebalancing import PlanInputs

__all__ = ["AllocationView", "AllocationsReply", "AllocationsRequest"]


class AllocationsRequest(PlanInputs, frozen=True, kw_only=True):
    """``POST /worldservice/allocations``: the new world allocations of one run.

    The before-allocations are not sent: they are the stored ones. Unknown fields are
    ignored (forward compatible).
    """

    run_id: Identifier
    world_allocations: dict[str, float]
    execute: bool = False
    etag: Identifier | None = None


class AllocationView(msgspec.Struct, frozen=True, kw_only=True):
    """One world's stored allocation as ``GET /worldservice/allocations`` shows it."""

    world_id: str
    allocation: float
    run_id: str
    etag: str
    strategy_alloc_total: dict[str, float] | None
    updated_at: float
    stale: bool


class AllocationsReply(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /worldservice/allocations``: ``{"allocations": {world_id: view}}``."""

    allocations: dict[str, AllocationView]
