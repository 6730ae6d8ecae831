"""Pure per-strategy attribution of a plan (SPEC §8, §11): each strategy's own delta.

A strategy's delta is ``qty × (scale_by_strategy − 1)`` for each of its positions. A world
delta that no strategy's own delta explains (a plan whose ``scale_by_strategy`` is empty and
whose ``scale_world`` is 1, or a delta of a symbol no strategy's scale moves) is never
dropped silently: it is split over the world's strategies by their current notional in that
``(venue, symbol)``, else by ``strategy_alloc_after_total`` of the world, else reported in
``dropped`` with reason ``no_strategy``. One pass over positions, one over deltas.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

from app.contracts.orders import DroppedOrder
from app.contracts.rebalancing import PlanResponse, RebalanceRequest

__all__ = ["StrategyDelta", "per_strategy_deltas"]

_Where = tuple[str, str | None, str]  # (world, venue, canonical symbol)


class StrategyDelta(NamedTuple):
    """A quantity change of one strategy in one world's ``(venue, symbol)``."""

    world_id: str
    strategy_id: str
    venue: str | None
    symbol: str
    qty: float


def _weights(raw: dict[str, float] | None) -> dict[str, float]:
    """The usable weights of ``raw`` (finite and positive), empty when their sum is not."""
    usable = {k: v for k, v in (raw or {}).items() if math.isfinite(v) and v > 0}
    total = math.fsum(usable.values())
    return usable if math.isfinite(total) and total > 0 else {}


def per_strategy_deltas(
    request: RebalanceRequest,
    plan: PlanResponse,
    canonical: Callable[[str | None, str], str],
) -> tuple[list[StrategyDelta], list[DroppedOrder]]:
    """Return every strategy's delta of ``plan`` and the world deltas no strategy can take.

    Args:
        request: the rebalance request (positions and strategy allocations).
        plan: WorldService's answer for ``request``.
        canonical: maps ``(venue, symbol)`` to the canonical symbol (aliases are one
            instrument).

    Returns:
        The strategy deltas (own deltas first, then splits of unexplained world deltas)
        and the unexplained world deltas that have no strategy to go to.
    """
    out: list[StrategyDelta] = []
    explained: set[_Where] = set()
    notional: dict[_Where, dict[str, float]] = {}
    for pos in request.positions:
        world_plan = plan.per_world.get(pos.world_id)
        if world_plan is None:
            continue
        where = (pos.world_id, pos.venue, canonical(pos.venue, pos.symbol))
        holders = notional.setdefault(where, {})
        holders[pos.strategy_id] = holders.get(pos.strategy_id, 0.0) + abs(pos.qty * pos.mark)
        scale = world_plan.scale_by_strategy.get(pos.strategy_id, world_plan.scale_world)
        qty = pos.qty * (scale - 1.0)
        out.append(StrategyDelta(pos.world_id, pos.strategy_id, pos.venue, pos.symbol, qty))
        if qty != 0.0:
            explained.add(where)
    dropped: list[DroppedOrder] = []
    after = request.strategy_alloc_after_total or {}
    for world_id, world_plan in plan.per_world.items():
        for delta in world_plan.deltas:
            where = (world_id, delta.venue, canonical(delta.venue, delta.symbol))
            if delta.delta_qty == 0.0 or where in explained:
                continue
            weights = _weights(notional.get(where)) or _weights(after.get(world_id))
            if not weights:
                dropped.append(
                    DroppedOrder(
                        world_id=world_id,
                        symbol=delta.symbol,
                        quantity=delta.delta_qty,
                        reason="no_strategy",
                        detail="no strategy of this world holds the symbol or has an "
                        "allocation to take the world's delta",
                        venue=delta.venue,
                    )
                )
                continue
            total = math.fsum(weights.values())
            strategies = list(weights)
            shares = [delta.delta_qty * weights[s] / total for s in strategies[:-1]]
            shares.append(delta.delta_qty - math.fsum(shares))  # the parts sum to the delta
            for strategy, share in zip(strategies, shares, strict=True):
                out.append(StrategyDelta(world_id, strategy, delta.venue, delta.symbol, share))
    return out, dropped
