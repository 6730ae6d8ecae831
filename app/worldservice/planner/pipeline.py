"""Rebalance planning (scaling, overlay, hybrid) as one forward pipeline of pure passes.

columns → scales → netting → rounding → answer (and the overlay from the same columns):
each pass takes what the one before produced and never calls back into it; every pass
is O(positions).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.contracts.rebalancing import RebalanceRequest, SymbolDelta, WorldPlan
from app.worldservice.planner.arrays import overflow_at
from app.worldservice.planner.columns import Columns, columns
from app.worldservice.planner.netting import net_keys
from app.worldservice.planner.overlay import overlay_deltas
from app.worldservice.planner.rounding import plan_deltas
from app.worldservice.planner.scales import overlay_fraction, strategy_scales, world_scales

__all__ = ["MODES", "PlanParts", "compute_plan"]

MODES = ("scaling", "overlay", "hybrid")


@dataclass(frozen=True, slots=True)
class PlanParts:
    """The computed plan, ready to be wrapped in a v1 or v2 response.

    Attributes:
        per_world: ``{world_id: WorldPlan}`` sorted by world id.
        global_deltas: per-world deltas netted across worlds, sorted by (symbol, venue).
        overlay_deltas: overlay trades per instrument (overlay/hybrid), None for scaling.
    """

    per_world: dict[str, WorldPlan]
    global_deltas: list[SymbolDelta]
    overlay_deltas: list[SymbolDelta] | None


def compute_plan(req: RebalanceRequest, cols: Columns | None = None) -> PlanParts:
    """Plan a validated request.

    Args:
        req: a request that passed ``validate_request``.
        cols: ``columns(req.positions)`` when the caller already has them.

    Returns:
        The per-world plans, the netted global deltas and, for overlay/hybrid, the overlay
        deltas. Every world named in either allocation map gets a plan.

    Raises:
        ValueError: unknown mode or missing overlay config (the validator reports these).
        PlanOverflowError: a figure overflowed to infinity.
    """
    frac = overlay_fraction(req)
    g_world = world_scales(req)
    if cols is None:
        cols = columns(req.positions)
    with np.errstate(over="ignore"):
        notional = cols.qty * cols.mark
    if not np.isfinite(notional).all():
        raise overflow_at("qty × mark", np.flatnonzero(~np.isfinite(notional)))
    scales = strategy_scales(req, g_world, frac, cols, notional)
    per_world_deltas: dict[str, list[SymbolDelta]] = {}
    global_deltas: list[SymbolDelta] = []
    # Overlay (f = 1) leaves every position untouched: no netting pass.
    if frac < 1.0 and cols.n:
        net = net_keys(cols, notional, scales.per_position)
        per_world_deltas, global_deltas = plan_deltas(
            cols, net, req.lot_size_by_symbol or {}, req.min_trade_notional or 0.0
        )
    per_world = {
        w: WorldPlan(
            world_id=w,
            scale_world=g,
            scale_by_strategy=scales.by_world.get(w, {}),
            deltas=per_world_deltas.get(w, []),
        )
        for w, g in g_world.items()
    }
    overlay = None if req.mode.lower() == "scaling" else overlay_deltas(req, g_world, frac, cols)
    return PlanParts(per_world=per_world, global_deltas=global_deltas, overlay_deltas=overlay)
