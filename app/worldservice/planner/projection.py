"""The ``projection`` section of a v3 answer: where the plan leaves each world, and its cost."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import msgspec
import numpy as np

from app.contracts.policy import (
    CostModel,
    Costs,
    Projection,
    ProjectionTotal,
    WorldProjection,
)
from app.contracts.rebalancing import RebalanceRequest, SymbolDelta
from app.worldservice.planner.arrays import (
    FloatArray,
    overflow_at,
    sums,
    to_notional,
)
from app.worldservice.planner.columns import Columns
from app.worldservice.planner.netting import Netted
from app.worldservice.planner.rounding import Rounded

__all__ = ["project"]

_FREE = CostModel()


def _rates(costs: Costs | None, venues: Sequence[str | None]) -> tuple[FloatArray, FloatArray]:
    """Per venue: the cost rate (fee + slippage, as a fraction) and the minimum fee."""
    models = [
        (costs.by_venue.get(v, costs.default) if v is not None else costs.default)
        if costs is not None else _FREE
        for v in venues
    ]
    rate = np.array([(m.fee_bps + m.slippage_bps) / 1e4 for m in models], np.float64)
    floor = np.array([m.min_fee for m in models], np.float64)
    return rate, floor


def _cost(notional: FloatArray, rate: FloatArray, floor: FloatArray) -> FloatArray:
    """``max(min_fee, |notional| · rate)`` of each delta."""
    out: FloatArray = np.maximum(floor, np.abs(notional) * rate)
    return out


def project(
    req: RebalanceRequest, worlds: Sequence[str], g_world: Mapping[str, float], frac: float,
    cols: Columns, notional: FloatArray, net: Netted | None, final: Rounded | None,
    overlay: Sequence[SymbolDelta] | None,
) -> Projection:
    """Each world's weight before and after the plan, its turnover and estimated cost.

    Weights are net notional over total equity (0 when the equity is 0); ``weight_after``
    adds the world's final deltas and, in overlay and hybrid modes, the overlay notional
    the world asked for (``f · (g_w − 1) · N_w``). ``total`` adds the overlay deltas (netted
    per instrument, they belong to no single world) to the worlds' turnover and cost.

    Args:
        req: the validated request.
        worlds: the plan's worlds, in answer order.
        g_world: the world scales.
        frac: the overlay fraction.
        cols: the position columns; ``notional`` their ``qty · mark``.
        net: the netted keys and ``final`` the deltas that trade (None without any).
        overlay: the overlay deltas (overlay and hybrid modes).

    Raises:
        PlanOverflowError: a figure is not finite.
    """
    policy = req.policy
    costs = policy.costs if policy is not None else None
    with np.errstate(all="ignore"):  # overflows are checked below, naming the world
        return _project(req, worlds, g_world, frac, cols, notional, net, final, overlay, costs)


def _project(
    req: RebalanceRequest, worlds: Sequence[str], g_world: Mapping[str, float], frac: float,
    cols: Columns, notional: FloatArray, net: Netted | None, final: Rounded | None,
    overlay: Sequence[SymbolDelta] | None, costs: Costs | None,
) -> Projection:
    equity = req.total_equity
    n_worlds = len(cols.worlds)
    held = sums(cols.world, notional, n_worlds)
    moved = np.zeros(n_worlds)
    turnover = np.zeros(n_worlds)
    cost = np.zeros(n_worlds)
    if net is not None and final is not None and len(final.idx):
        idx = final.idx
        traded = to_notional(final.qty, net.abs_qty[idx], net.abs_notional[idx])
        rate, floor = _rates(costs, [v or None for v in cols.venues])
        venue = net.venue[idx]
        world = net.world[idx]
        moved = sums(world, traded, n_worlds)
        turnover = sums(world, np.abs(traded), n_worlds)
        cost = sums(world, _cost(traded, rate[venue], floor[venue]), n_worlds)
    index = {name: i for i, name in enumerate(cols.worlds)}
    after = req.world_alloc_after
    per_world: dict[str, WorldProjection] = {}
    for name in worlds:
        i = index.get(name)
        before_n = float(held[i]) if i is not None else 0.0
        after_n = before_n + (float(moved[i]) if i is not None else 0.0)
        if frac > 0.0:
            after_n += frac * (g_world.get(name, 1.0) - 1.0) * before_n
        w_before = before_n / equity if equity > 0.0 else 0.0
        w_after = after_n / equity if equity > 0.0 else 0.0
        target = after.get(name, 0.0)
        world_figures = WorldProjection(
            weight_before=w_before, weight_after=w_after, target=target,
            residual=w_after - target,
            turnover_notional=float(turnover[i]) if i is not None else 0.0,
            est_cost=float(cost[i]) if i is not None else 0.0,
        )
        if not np.isfinite(msgspec.structs.astuple(world_figures)).all():
            raise overflow_at(
                f"the projection of world {json.dumps(name)}",
                np.flatnonzero(cols.world == i), also=_cost_paths(costs, world_figures),
            )
        per_world[name] = world_figures
    total_turnover = float(turnover.sum())
    total_cost = float(cost.sum())
    if overlay:
        prices = req.overlay.price_by_symbol if req.overlay is not None else {}
        traded = np.array([d.delta_qty * prices.get(d.symbol, 0.0) for d in overlay])
        rate, floor = _rates(costs, [d.venue for d in overlay])
        total_turnover += float(np.abs(traded).sum())
        total_cost += float(_cost(traded, rate, floor).sum())
    total = ProjectionTotal(
        turnover_notional=total_turnover,
        turnover_weight=total_turnover / equity if equity > 0.0 else 0.0,
        est_cost=total_cost,
        est_cost_bps=total_cost / total_turnover * 1e4 if total_turnover > 0.0 else 0.0,
    )
    if not np.isfinite(msgspec.structs.astuple(total)).all():  # the worlds' sums, the overlay
        also = _cost_paths(costs, total)
        if overlay:
            also.append("$.overlay.price_by_symbol")
        raise overflow_at("the plan's total turnover or cost", np.arange(cols.n), also=also)
    return Projection(per_world=per_world, total=total)


def _cost_paths(costs: Costs | None, figures: WorldProjection | ProjectionTotal) -> list[str]:
    """``$.policy.costs`` when a cost figure overflowed though the turnover did not."""
    cost = (figures.est_cost, getattr(figures, "est_cost_bps", 0.0))
    if costs is not None and np.isfinite(figures.turnover_notional) and not np.isfinite(
        cost
    ).all():
        return ["$.policy.costs"]
    return []
