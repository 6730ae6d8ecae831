"""The fourth planner pass: netted changes to lot-rounded, dust-free per-world and global deltas."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from app.contracts.lots import EXACT_INT_LIMIT, LOT_TOLERANCE, lot_info, lot_qty
from app.contracts.rebalancing import SymbolDelta
from app.worldservice.planner.arrays import (
    FloatArray,
    IntArray,
    as_objects,
    group,
    overflow_at,
    sums,
)
from app.worldservice.planner.columns import Columns
from app.worldservice.planner.netting import Netted

__all__ = ["NOISE_RELATIVE", "plan_deltas"]

NOISE_RELATIVE = 1e-12
"""A netted notional change smaller than this fraction of the key's gross notional is float
noise from summation order (not a trade) and is treated as zero."""


class _Lots:
    """Lot sizes per symbol code: ``has`` mask, lot, mantissa and power of ten (NaN/1 if none)."""

    __slots__ = ("has", "infos", "lot", "mantissa", "scale")

    def __init__(self, symbols: Sequence[str], lot_by_symbol: Mapping[str, float]) -> None:
        get = lot_by_symbol.get
        self.lot = np.array([get(s, math.nan) for s in symbols], np.float64)
        self.has = ~np.isnan(self.lot)
        # Requests use a handful of lot sizes: decompose each distinct size once.
        sizes, inverse = np.unique(self.lot, return_inverse=True)
        self.infos = {size: lot_info(size) for size in sizes.tolist() if not math.isnan(size)}
        nan_info = (math.nan, math.nan, 1.0)
        infos = [self.infos.get(size, nan_info) for size in sizes.tolist()]
        self.mantissa = np.array([i[1] for i in infos], np.float64)[inverse.reshape(-1)]
        self.scale = np.array([i[2] for i in infos], np.float64)[inverse.reshape(-1)]

    def qty(self, count: FloatArray, symbol: IntArray) -> FloatArray:
        """``count`` lots of each ``symbol`` as floats without residue (see ``lot_qty``)."""
        num = count * self.mantissa[symbol]
        out = num / self.scale[symbol]
        for i in np.flatnonzero(~(np.abs(num) < EXACT_INT_LIMIT)).tolist():
            out[i] = lot_qty(int(count[i]), self.infos[float(self.lot[symbol[i]])])
        return out


def _lot_counts(units: FloatArray) -> FloatArray:
    """Whole lots toward zero, snapping within ``LOT_TOLERANCE`` (vectorised ``lot_count``)."""
    nearest = np.rint(units)  # half to even, like round()
    return np.where(np.abs(units - nearest) <= LOT_TOLERANCE, nearest, np.trunc(units))


def plan_deltas(
    cols: Columns, net: Netted, lot_by_symbol: Mapping[str, float], dust: float
) -> tuple[dict[str, list[SymbolDelta]], list[SymbolDelta]]:
    """Turn netted keys into lot-rounded per-world deltas and netted global deltas.

    Args:
        cols: the position columns (for the names).
        net: the netted keys.
        lot_by_symbol: lot sizes.
        dust: ``min_trade_notional`` (0 for none).

    Returns:
        ``({world: deltas in (symbol, venue) order}, global deltas in (symbol, venue) order)``.

    Raises:
        PlanOverflowError: a delta quantity is not finite.
    """
    lots = _Lots(cols.symbols, lot_by_symbol)
    change, abs_q, abs_n = net.change, net.abs_qty, net.abs_notional
    with np.errstate(all="ignore"):
        ad = np.abs(change)
        idx = np.flatnonzero(~((ad <= NOISE_RELATIVE * abs_n) | (ad < dust)))
        qty = change[idx] * abs_q[idx] / abs_n[idx]  # change / (quantity-weighted mark)
        big = ~np.isfinite(qty)  # the product may overflow where the quotient does not
        qty[big] = change[idx[big]] / (abs_n[idx[big]] / abs_q[idx[big]])
        symbol = net.symbol[idx]
        lotted = lots.has[symbol]
        count = _lot_counts(qty[lotted] / lots.lot[symbol[lotted]])
        bad = ~np.isfinite(qty)
        bad[lotted] |= ~np.isfinite(count)
        if bad.any():  # netting left finite sums; a quantity or lot count can still overflow
            raise overflow_at("a delta quantity", net.positions_of(idx[bad]))
        qty[lotted] = lots.qty(count, symbol[lotted])
        keep = np.ones(len(idx), bool)
        keep[lotted] = count != 0.0
        idx, qty, lotted = idx[keep], qty[keep], lotted[keep]
        count = count[count != 0.0]
        per_world = _per_world(cols, net, idx, qty)
        global_deltas = _global(cols, net, lots, idx, qty, lotted, count, dust)
    return per_world, global_deltas


def _per_world(
    cols: Columns, net: Netted, idx: IntArray, qty: FloatArray
) -> dict[str, list[SymbolDelta]]:
    world = net.world[idx]
    symbols = as_objects(cols.symbols)[net.symbol[idx]].tolist()
    venues = as_objects([v or None for v in cols.venues])[net.venue[idx]].tolist()
    qtys = qty.tolist()
    starts = [0, *(np.flatnonzero(np.diff(world)) + 1).tolist(), len(idx)]
    out: dict[str, list[SymbolDelta]] = {}
    worlds = cols.worlds
    for a, b in itertools.pairwise(starts):
        if a < b:
            out[worlds[world[a]]] = [
                SymbolDelta(symbol=s, delta_qty=q, venue=v)
                for s, q, v in zip(symbols[a:b], qtys[a:b], venues[a:b], strict=True)
            ]
    return out


def _global(
    cols: Columns, net: Netted, lots: _Lots, idx: IntArray, qty: FloatArray,
    lotted: npt.NDArray[np.bool_], count: FloatArray, dust: float,
) -> list[SymbolDelta]:
    g_symbol, g_venue, inverse = group(net.symbol, net.venue, len(cols.venues))
    groups = len(g_symbol)
    g_lot_idx = inverse[idx[lotted]]
    g_has = lots.has[g_symbol]
    g_qty = np.zeros(groups)
    if float(np.abs(count).sum()) < EXACT_INT_LIMIT:  # float sums of the counts are exact
        has = np.flatnonzero(g_has)
        g_qty[has] = lots.qty(sums(g_lot_idx, count, groups)[has], g_symbol[has])
    else:  # exact integer sums
        totals = [0] * groups
        for g, c in zip(g_lot_idx.tolist(), count.tolist(), strict=True):
            totals[g] += int(c)
        for g, total in enumerate(totals):
            if total:
                g_qty[g] = lot_qty(total, lots.infos[float(lots.lot[g_symbol[g]])])
    free = ~g_has
    g_qty[free] = sums(inverse[idx[~lotted]], qty[~lotted], groups)[free]
    if not np.isfinite(g_qty).all():  # per-world quantities summed across worlds
        bad_keys = np.flatnonzero(~np.isfinite(g_qty)[inverse])
        raise overflow_at("a global delta quantity", net.positions_of(bad_keys))
    emit = g_qty != 0.0
    if dust:  # the global dust check uses the all-worlds quantity-weighted mark
        g_abs_q = sums(inverse, net.abs_qty, groups)
        g_abs_n = sums(inverse, net.abs_notional, groups)
        emit &= ~(np.abs(g_qty) * g_abs_n / g_abs_q < dust)
    out = np.flatnonzero(emit)
    symbols = as_objects(cols.symbols)[g_symbol[out]].tolist()
    venues = as_objects([v or None for v in cols.venues])[g_venue[out]].tolist()
    return [
        SymbolDelta(symbol=s, delta_qty=q, venue=v)
        for s, q, v in zip(symbols, g_qty[out].tolist(), venues, strict=True)
    ]
