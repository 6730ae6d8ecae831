"""Pure per-strategy attribution of a plan (SPEC §8, §11): each strategy's own delta.

A strategy's delta is ``qty × (scale_by_strategy − 1)`` for each of its positions. A world
delta that no strategy's own delta explains (a plan whose ``scale_by_strategy`` is empty and
whose ``scale_world`` is 1, or a delta of a symbol no strategy's scale moves) is never
dropped silently: it is split over the world's strategies by their current notional in that
``(venue, symbol)``, else by ``strategy_alloc_after_total`` of the world, else reported in
``dropped`` with reason ``no_strategy``. One pass over positions, one over deltas, and a
second pass over positions only when some world delta is unexplained.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from app.contracts.orders import DroppedOrder
from app.contracts.rebalancing import PlanResponse, RebalanceRequest, SymbolDelta

__all__ = ["AddDelta", "per_strategy_deltas"]

_Where = tuple[str, str | None, str]  # (world, venue, canonical symbol)


AddDelta = Callable[[str, str, str | None, str, float], None]
"""Receives one strategy delta: ``(world_id, strategy_id, venue, symbol, qty)``."""


def _weights(raw: dict[str, float] | None) -> dict[str, float]:
    """The usable weights of ``raw`` (finite and positive), empty when their sum is not."""
    usable = {k: v for k, v in (raw or {}).items() if math.isfinite(v) and v > 0}
    total = math.fsum(usable.values())
    return usable if math.isfinite(total) and total > 0 else {}


def _holdings(
    request: RebalanceRequest, needed: set[_Where], canonical: Callable[[str | None, str], str]
) -> dict[_Where, dict[str, float]]:
    """Each strategy's current notional |qty·mark| in the ``needed`` places (one pass)."""
    out: dict[_Where, dict[str, float]] = {}
    for pos in request.positions:
        where = (pos.world_id, pos.venue, canonical(pos.venue, pos.symbol))
        if where in needed:
            holders = out.setdefault(where, {})
            holders[pos.strategy_id] = holders.get(pos.strategy_id, 0.0) + abs(pos.qty * pos.mark)
    return out


def per_strategy_deltas(
    request: RebalanceRequest,
    plan: PlanResponse,
    canonical: Callable[[str | None, str], str],
    add: AddDelta,
) -> list[DroppedOrder]:
    """Hand every strategy's delta of ``plan`` to ``add``; return the world deltas that no
    strategy can take.

    Args:
        request: the rebalance request (positions and strategy allocations).
        plan: WorldService's answer for ``request``.
        canonical: maps ``(venue, symbol)`` to the canonical symbol (aliases are one
            instrument).
        add: receives each strategy delta: own deltas first, then the splits of world
            deltas no own delta explains.

    Returns:
        The unexplained world deltas that have no strategy to go to (reason ``no_strategy``).
    """
    explained: set[_Where] = set()
    for pos in request.positions:
        world_plan = plan.per_world.get(pos.world_id)
        if world_plan is None:
            continue
        scale = world_plan.scale_by_strategy.get(pos.strategy_id, world_plan.scale_world)
        qty = pos.qty * (scale - 1.0)
        add(pos.world_id, pos.strategy_id, pos.venue, pos.symbol, qty)
        if qty != 0.0:
            explained.add((pos.world_id, pos.venue, canonical(pos.venue, pos.symbol)))
    unexplained: list[tuple[_Where, SymbolDelta]] = []
    for world_id, world_plan in plan.per_world.items():
        for delta in world_plan.deltas:
            where = (world_id, delta.venue, canonical(delta.venue, delta.symbol))
            if delta.delta_qty != 0.0 and where not in explained:
                unexplained.append((where, delta))
    if not unexplained:  # the usual case: a second pass over positions is not needed
        return []
    notional = _holdings(request, {where for where, _ in unexplained}, canonical)
    after = request.strategy_alloc_after_total or {}
    dropped: list[DroppedOrder] = []
    for where, delta in unexplained:
        world_id, venue, _ = where
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
                    venue=venue,
                )
            )
            continue
        total = math.fsum(weights.values())
        strategies = list(weights)
        shares = [delta.delta_qty * weights[s] / total for s in strategies[:-1]]
        shares.append(delta.delta_qty - math.fsum(shares))  # the parts sum to the delta
        for strategy, share in zip(strategies, shares, strict=True):
            add(world_id, strategy, venue, delta.symbol, share)
    return dropped
