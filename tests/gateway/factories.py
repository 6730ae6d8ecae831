"""Builders of requests and plans for Gateway tests."""

from __future__ import annotations

from typing import Any

from app.contracts.rebalancing import (
    AlphaMetricsEnvelope,
    PlanV1,
    PlanV2,
    PositionSlice,
    RebalanceIntent,
    RebalanceRequest,
    SymbolDelta,
    WorldPlan,
)

__all__ = ["pos", "plan_v1", "plan_v2", "request_of", "request_body"]


def pos(
    world: str, strategy: str, symbol: str, qty: float, mark: float = 10.0, venue: str | None = None
) -> PositionSlice:
    """One position slice."""
    return PositionSlice(
        world_id=world, strategy_id=strategy, symbol=symbol, qty=qty, mark=mark, venue=venue
    )


def request_of(positions: list[PositionSlice], **kw: Any) -> RebalanceRequest:
    """A request over ``positions`` with allocations 1.0 → 1.0 for every world."""
    worlds = sorted({p.world_id for p in positions})
    return RebalanceRequest(
        total_equity=kw.pop("total_equity", 1_000_000.0),
        world_alloc_before=kw.pop("world_alloc_before", dict.fromkeys(worlds, 0.5)),
        world_alloc_after=kw.pop("world_alloc_after", dict.fromkeys(worlds, 0.5)),
        positions=positions,
        **kw,
    )


def _worlds(
    deltas: dict[str, list[tuple[str, float, str | None]]],
    scales: dict[str, dict[str, float]] | None,
) -> dict[str, WorldPlan]:
    scales = scales or {}
    worlds = set(deltas) | set(scales)
    return {
        w: WorldPlan(
            world_id=w,
            scale_world=1.0,
            scale_by_strategy=scales.get(w, {}),
            deltas=[SymbolDelta(symbol=s, delta_qty=q, venue=v) for s, q, v in deltas.get(w, [])],
        )
        for w in sorted(worlds)
    }


def plan_v1(
    deltas: dict[str, list[tuple[str, float, str | None]]],
    *,
    global_deltas: list[tuple[str, float, str | None]] | None = None,
    overlay: list[tuple[str, float]] | None = None,
    scales: dict[str, dict[str, float]] | None = None,
) -> PlanV1:
    """A v1 plan with the given per-world deltas ``{world: [(symbol, qty, venue)]}``."""
    return PlanV1(
        per_world=_worlds(deltas, scales),
        global_deltas=[
            SymbolDelta(symbol=s, delta_qty=q, venue=v) for s, q, v in global_deltas or []
        ],
        overlay_deltas=(
            [SymbolDelta(symbol=s, delta_qty=q) for s, q in overlay] if overlay else None
        ),
    )


def plan_v2(deltas: dict[str, list[tuple[str, float, str | None]]]) -> PlanV2:
    """A v2 plan with non-empty metrics."""
    metrics = {"alpha_performance.sharpe": 1.0}
    return PlanV2(
        per_world=_worlds(deltas, None),
        global_deltas=[],
        alpha_metrics=AlphaMetricsEnvelope(per_world=dict.fromkeys(deltas, metrics)),
        rebalance_intent=RebalanceIntent(),
    )


def request_body(
    *, before: float = 0.5, after: float = 0.25, schema_version: int | None = None, **kw: Any
) -> dict[str, Any]:
    """A JSON request body: two worlds, long and short positions, returns series."""
    body: dict[str, Any] = {
        "total_equity": 100_000.0,
        "world_alloc_before": {"a": before, "b": 0.5},
        "world_alloc_after": {"a": after, "b": 0.5},
        "positions": [
            {"world_id": "a", "strategy_id": "s1", "symbol": "BTC", "qty": 2.0, "mark": 1000.0},
            {"world_id": "a", "strategy_id": "s2", "symbol": "ETH", "qty": -10.0, "mark": 100.0},
            {"world_id": "b", "strategy_id": "s3", "symbol": "BTC", "qty": 1.0, "mark": 1000.0},
        ],
        "realized_returns_by_world": {"a": [0.1, -0.05, 0.2]},
    }
    if schema_version is not None:
        body["schema_version"] = schema_version
    body.update(kw)
    return body
