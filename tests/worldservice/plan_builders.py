"""Small builders for plan requests shared by the planner, validation and API tests."""

from __future__ import annotations

from typing import Any

import msgspec

from app.contracts.rebalancing import PositionSlice, RebalanceRequest

__all__ = ["pos", "request", "request_json"]


def pos(
    world: str, strategy: str, symbol: str, qty: float, mark: float, venue: str | None = None
) -> PositionSlice:
    """A position slice."""
    return PositionSlice(
        world_id=world, strategy_id=strategy, symbol=symbol, qty=qty, mark=mark, venue=venue
    )


def request(**fields: Any) -> RebalanceRequest:
    """A request with sane defaults (one world ``w`` kept at 0.5, equity 1e6)."""
    fields.setdefault("total_equity", 1_000_000.0)
    fields.setdefault("world_alloc_before", {"w": 0.5})
    fields.setdefault("world_alloc_after", {"w": 0.5})
    fields.setdefault("positions", [])
    return RebalanceRequest(**fields)


def request_json(**fields: Any) -> dict[str, Any]:
    """The JSON body (a dict) of ``request(**fields)``."""
    body: dict[str, Any] = msgspec.to_builtins(request(**fields))
    return {k: v for k, v in body.items() if v is not None}
