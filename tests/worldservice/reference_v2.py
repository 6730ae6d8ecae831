"""The schema v1/v2 planner as it was before the policy steps: an oracle for property tests.

``plan_deltas`` is the rounding pass of ``main`` before schema v3, verbatim; the passes
before it (columns, scales, netting) and the answer builders after it are unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from app.contracts.rebalancing import RebalanceRequest, SymbolDelta
from app.worldservice.planner.arrays import PlanOverflowError
from app.worldservice.planner.columns import Columns, columns
from app.worldservice.planner.netting import Netted, net_keys
from app.worldservice.planner.rounding import (
    NOISE_RELATIVE,
    Lots,
    _global,
    _lot_counts,
    _per_world,
)
from app.worldservice.planner.scales import overlay_fraction, strategy_scales, world_scales

__all__ = ["reference_deltas"]


def plan_deltas(
    cols: Columns, net: Netted, lot_by_symbol: Mapping[str, float], dust: float
) -> tuple[dict[str, list[SymbolDelta]], list[SymbolDelta]]:
    lots = Lots(cols.symbols, lot_by_symbol)
    change, abs_q, abs_n = net.change, net.abs_qty, net.abs_notional
    with np.errstate(all="ignore"):
        ad = np.abs(change)
        idx = np.flatnonzero(~((ad <= NOISE_RELATIVE * abs_n) | (ad < dust)))
        qty = change[idx] * abs_q[idx] / abs_n[idx]  # change / (quantity-weighted mark)
        symbol = net.symbol[idx]
        lotted = lots.has[symbol]
        count = _lot_counts(qty[lotted] / lots.lot[symbol[lotted]])
        if not (np.isfinite(qty).all() and np.isfinite(count).all()):
            raise PlanOverflowError("a delta quantity is not finite")
        qty[lotted] = lots.qty(count, symbol[lotted])
        keep = np.ones(len(idx), bool)
        keep[lotted] = count != 0.0
        idx, qty, lotted = idx[keep], qty[keep], lotted[keep]
        count = count[count != 0.0]
        per_world = _per_world(cols, net, idx, qty)
        global_deltas = _global(cols, net, lots, idx, qty, lotted, count, dust)
    return per_world, global_deltas


def reference_deltas(
    req: RebalanceRequest,
) -> tuple[dict[str, list[SymbolDelta]], list[SymbolDelta]]:
    """The per-world and global deltas schema v2 gives for ``req`` (scaling/hybrid part)."""
    frac = overlay_fraction(req)
    g_world = world_scales(req)
    cols = columns(req.positions)
    if frac >= 1.0 or not cols.n:
        return {}, []
    notional = cols.qty * cols.mark
    scales = strategy_scales(req, g_world, frac, cols, notional)
    net = net_keys(cols, notional, scales.per_position)
    return plan_deltas(cols, net, req.lot_size_by_symbol or {}, req.min_trade_notional or 0.0)
