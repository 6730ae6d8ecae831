"""Rebalance planning (scaling, overlay, hybrid) as one forward pipeline of pure passes.

columns → scales → band → netting → trades (turnover cap, the sells' rules, the cash limit,
the buys' rules) → deltas, and for a v3 answer the skipped deltas and the projection (the
overlay comes from the same columns): each pass takes what the ones before produced and
never calls back into them; every pass is O(positions).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.contracts.policy import Funding, Projection, SkippedDelta
from app.contracts.rebalancing import RebalanceRequest, SymbolDelta, WorldPlan
from app.worldservice.planner.arrays import overflow_at
from app.worldservice.planner.band import apply_band
from app.worldservice.planner.columns import Columns, columns
from app.worldservice.planner.netting import Netted, net_keys
from app.worldservice.planner.overlay import overlay_deltas
from app.worldservice.planner.projection import project
from app.worldservice.planner.rounding import Lots, Rounded, assemble
from app.worldservice.planner.scales import overlay_fraction, strategy_scales, world_scales
from app.worldservice.planner.skipped import skipped_deltas
from app.worldservice.planner.trades import trade_keys

__all__ = ["MODES", "PlanParts", "compute_plan"]

MODES = ("scaling", "overlay", "hybrid")


@dataclass(frozen=True, slots=True)
class PlanParts:
    """The computed plan, ready to be wrapped in a v1, v2 or v3 response.

    Attributes:
        per_world: ``{world_id: WorldPlan}`` sorted by world id.
        global_deltas: per-world deltas netted across worlds, sorted by (symbol, venue).
        overlay_deltas: overlay trades per instrument (overlay/hybrid), None for scaling.
        skipped: what the rules removed or shrank (only when explained).
        projection: each world before and after, turnover and cost (only when explained).
        funding: the cash figures (only when explained and the policy has ``cash``).
    """

    per_world: dict[str, WorldPlan]
    global_deltas: list[SymbolDelta]
    overlay_deltas: list[SymbolDelta] | None
    skipped: list[SkippedDelta] | None = None
    projection: Projection | None = None
    funding: Funding | None = None


def compute_plan(
    req: RebalanceRequest, cols: Columns | None = None, *, explain: bool = False
) -> PlanParts:
    """Plan a validated request.

    Args:
        req: a request that passed ``validate_request``.
        cols: ``columns(req.positions)`` when the caller already has them.
        explain: also build the v3 sections (``skipped``, ``projection``, ``funding``).

    Returns:
        The per-world plans, the netted global deltas and, for overlay/hybrid, the overlay
        deltas. Every world named in either allocation map gets a plan.

    Raises:
        ValueError: unknown mode or missing overlay config (the validator reports these).
        PlanOverflowError: a figure overflowed to infinity.
    """
    policy = req.policy
    band = policy.band if policy is not None else None
    frac = overlay_fraction(req)
    g_world = world_scales(req)
    if cols is None:
        cols = columns(req.positions)
    with np.errstate(over="ignore"):
        notional = cols.qty * cols.mark
    if not np.isfinite(notional).all():
        raise overflow_at("qty × mark", np.flatnonzero(~np.isfinite(notional)))
    scales = strategy_scales(req, g_world, frac, cols, notional, fractions=band is not None)
    banded = apply_band(band, scales)
    dust = req.min_trade_notional or 0.0
    lot_by_symbol = req.lot_size_by_symbol or {}
    per_world_deltas: dict[str, list[SymbolDelta]] = {}
    global_deltas: list[SymbolDelta] = []
    net: Netted | None = None
    final: Rounded | None = None
    skipped: list[SkippedDelta] | None = [] if explain else None
    funding: Funding | None = None
    # Overlay (f = 1) leaves every position untouched: no netting pass.
    if frac < 1.0 and cols.n:
        lots = Lots(cols.symbols, lot_by_symbol)
        net = net_keys(cols, notional, banded.per_position)
        trades = trade_keys(net, lots, dust, policy, req.total_equity)
        final, funding = trades.final, trades.funding
        per_world_deltas, global_deltas = assemble(cols, net, lots, final, dust)
        if explain:
            skipped = skipped_deltas(cols, net, scales, banded, trades, notional, policy,
                                     dust, lot_by_symbol, req.total_equity)
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
    if not explain:
        return PlanParts(per_world=per_world, global_deltas=global_deltas,
                         overlay_deltas=overlay)
    if funding is None and policy is not None and policy.cash is not None:
        funding = Funding(available=policy.cash.available, buffer=policy.cash.buffer, buys=0.0,
                          sells=0.0, budget=policy.cash.available
                          - policy.cash.buffer * req.total_equity, buy_scale=1.0)
    projection = project(req, list(per_world), g_world, frac, cols, notional, net, final,
                         overlay)
    return PlanParts(per_world=per_world, global_deltas=global_deltas, overlay_deltas=overlay,
                     skipped=skipped, projection=projection, funding=funding)
