"""Lot and dust rules of the planner: netted changes to lot-rounded, dust-free deltas.

The pipeline rounds the sells, then (after the cash limit) the buys, with ``round_keys``,
joins them with ``merge`` and builds the per-world and global deltas with ``assemble``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

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
    to_qty,
)
from app.worldservice.planner.columns import Columns
from app.worldservice.planner.netting import Netted

__all__ = ["NOISE_RELATIVE", "Lots", "Rounded", "assemble", "merge", "round_keys"]

NOISE_RELATIVE = 1e-12
"""A netted notional change smaller than this fraction of the key's gross notional is float
noise from summation order (not a trade) and is treated as zero."""


class Lots:
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


@dataclass(frozen=True, slots=True)
class Rounded:
    """Netted keys after the dust and lot rules (arrays aligned with ``idx``).

    Attributes:
        idx: the keys that trade, ascending.
        qty: their lot-rounded quantities.
        lotted: which of them have a lot size.
        count: their whole lot counts (0 where no lot size applies).
        dust, dust_qty: keys dropped below ``min_trade_notional`` and their quantities.
        cut, cut_qty: keys that rounding toward a lot shrank or removed, and the part cut;
            ``cut_whole`` says which of them were removed (less than one lot).
    """

    idx: IntArray
    qty: FloatArray
    lotted: npt.NDArray[np.bool_]
    count: FloatArray
    dust: IntArray
    dust_qty: FloatArray
    cut: IntArray
    cut_qty: FloatArray
    cut_whole: npt.NDArray[np.bool_]


def round_keys(
    lots: Lots, net: Netted, idx: IntArray, change: FloatArray, dust: float
) -> Rounded:
    """Drop the keys below ``dust`` and round the others toward zero to their lots.

    Args:
        lots: the lot sizes.
        net: the netted keys (their marks convert notional to quantity).
        idx: the keys to round, ascending.
        change: their notional changes.
        dust: ``min_trade_notional`` (0 for none).

    Raises:
        PlanOverflowError: a delta quantity is not finite.
    """
    abs_q, abs_n = net.abs_qty, net.abs_notional
    with np.errstate(all="ignore"):
        small = np.abs(change) < dust
        dropped = idx[small]
        # A dropped key's quantity is only reported (v3 ``skipped``, which checks it).
        dust_qty = to_qty(change[small], abs_q[dropped], abs_n[dropped])
        idx, change = idx[~small], change[~small]
        qty = to_qty(change, abs_q[idx], abs_n[idx])  # change / (quantity-weighted mark)
        symbol = net.symbol[idx]
        lotted = lots.has[symbol]
        units = qty[lotted] / lots.lot[symbol[lotted]]
        count = _lot_counts(units)
        bad = ~np.isfinite(qty)
        bad[lotted] |= ~np.isfinite(count)
        if bad.any():  # netting left finite sums; a quantity or lot count can still overflow
            raise overflow_at("a delta quantity", net.positions_of(idx[bad]))
        raw = qty[lotted]
        rounded = lots.qty(count, symbol[lotted])
        qty[lotted] = rounded
        # Within the tolerance a quantity is snapped to its multiple, not cut (unless that
        # multiple is zero).
        cut = (count == 0.0) | (np.abs(units - np.rint(units)) > LOT_TOLERANCE)
        lotted_idx = idx[lotted]
        keep = np.ones(len(idx), bool)
        keep[lotted] = count != 0.0
        counts = np.zeros(len(idx))
        counts[lotted] = count
    return Rounded(
        idx=idx[keep], qty=qty[keep], lotted=lotted[keep], count=counts[keep],
        dust=dropped, dust_qty=dust_qty,
        cut=lotted_idx[cut], cut_qty=(raw - rounded)[cut], cut_whole=(count == 0.0)[cut],
    )


def merge(keys: int, *sides: Rounded) -> Rounded:
    """Join the rounded sides (disjoint sets of keys) back into key order, in O(keys)."""
    idx = np.concatenate([side.idx for side in sides])
    present = np.zeros(keys, bool)
    present[idx] = True
    place = (np.cumsum(present) - 1)[idx]  # where each key goes among the kept ones

    def joined(name: str) -> npt.NDArray[Any]:
        values = np.concatenate([getattr(side, name) for side in sides])
        out = np.empty_like(values)
        out[place] = values
        return out

    return Rounded(
        idx=np.flatnonzero(present), qty=joined("qty"), lotted=joined("lotted"),
        count=joined("count"),
        dust=np.concatenate([side.dust for side in sides]),
        dust_qty=np.concatenate([side.dust_qty for side in sides]),
        cut=np.concatenate([side.cut for side in sides]),
        cut_qty=np.concatenate([side.cut_qty for side in sides]),
        cut_whole=np.concatenate([side.cut_whole for side in sides]),
    )


def assemble(
    cols: Columns, net: Netted, lots: Lots, final: Rounded, dust: float
) -> tuple[dict[str, list[SymbolDelta]], list[SymbolDelta]]:
    """The answer's deltas: per world, and netted across worlds with the same rules.

    Returns:
        ``({world: deltas in (symbol, venue) order}, global deltas in (symbol, venue) order)``.
    """
    with np.errstate(all="ignore"):
        per_world = _per_world(cols, net, final.idx, final.qty)
        global_deltas = _global(
            cols, net, lots, final.idx, final.qty, final.lotted, final.count[final.lotted],
            dust,
        )
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
    cols: Columns, net: Netted, lots: Lots, idx: IntArray, qty: FloatArray,
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
