"""Vectorised per-position passes of the planner: position columns, grouping and netting."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from app.contracts.rebalancing import PositionSlice, SymbolDelta
from app.worldservice.lots import EXACT_INT_LIMIT, LOT_TOLERANCE, lot_info, lot_qty

__all__ = [
    "Columns",
    "FloatArray",
    "IntArray",
    "NOISE_RELATIVE",
    "Netted",
    "PlanOverflowError",
    "as_objects",
    "columns",
    "group",
    "net_keys",
    "plan_deltas",
    "sums",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
NOISE_RELATIVE = 1e-12
"""A netted notional change smaller than this fraction of the key's gross notional is float
noise from summation order (not a trade) and is treated as zero."""
_PACK_LIMIT = 2**62
"""Two codes are packed into one int64 (``a * nb + b``) while the product stays below this."""


@dataclass(frozen=True, slots=True)
class Columns:
    """The positions as columns: string fields as codes into sorted name lists.

    Codes follow the names' sort order, so sorting codes sorts by name. A missing venue
    is the name ``""`` (sorts first).
    """

    n: int
    world: IntArray
    strategy: IntArray
    symbol: IntArray
    venue: IntArray
    worlds: list[str]
    strategies: list[str]
    symbols: list[str]
    venues: list[str]
    qty: FloatArray
    mark: FloatArray


@dataclass(frozen=True, slots=True)
class Netted:
    """Per netted (world, symbol, venue) key, in key order: codes and summed figures.

    Attributes:
        world, symbol, venue: the key's codes (see ``Columns``).
        change: Σ notional change; ``abs_qty``: Σ|qty|; ``abs_notional``: Σ|qty|·mark.
    """

    world: IntArray
    symbol: IntArray
    venue: IntArray
    change: FloatArray
    abs_qty: FloatArray
    abs_notional: FloatArray


def _codes(values: list[str]) -> tuple[IntArray, list[str]]:
    names = sorted(set(values))
    index = {name: i for i, name in enumerate(names)}
    return np.fromiter(map(index.__getitem__, values), np.intp, len(values)), names


def columns(positions: Sequence[PositionSlice]) -> Columns:
    """Split ``positions`` into columns (one C-speed pass per field).

    Args:
        positions: the request's positions.

    Returns:
        The columns; quantities and marks as float64.
    """
    n = len(positions)
    world, worlds = _codes([p.world_id for p in positions])
    strategy, strategies = _codes([p.strategy_id for p in positions])
    symbol, symbols = _codes([p.symbol for p in positions])
    venue, venues = _codes([p.venue or "" for p in positions])
    qty = np.fromiter([p.qty for p in positions], np.float64, n)
    mark = np.fromiter([p.mark for p in positions], np.float64, n)
    return Columns(n, world, strategy, symbol, venue, worlds, strategies, symbols, venues,
                   qty, mark)


def group(a: IntArray, b: IntArray, nb: int) -> tuple[IntArray, IntArray, IntArray]:
    """Group rows by the pair ``(a, b)`` (codes, ``0 <= b < nb``), groups in ``(a, b)`` order.

    Returns:
        ``(group_a, group_b, inverse)``: each group's pair and each row's group number.
    """
    if not len(a):
        empty = np.zeros(0, np.intp)
        return empty, empty, empty
    span = (int(a.max()) + 1) * nb
    if span >= _PACK_LIMIT:  # too many distinct values to pack into one int64: compare rows
        rows, inverse = np.unique(np.stack((a, b), axis=1), axis=0, return_inverse=True)
        return rows[:, 0], rows[:, 1], inverse.reshape(-1).astype(np.intp)
    packed = a.astype(np.int64) * nb + b
    if span <= 2 * len(a) + 4096:  # dense: mark the packed values present, no sort
        present = np.flatnonzero(np.bincount(packed, minlength=span))
        number = np.empty(span, np.intp)
        number[present] = np.arange(len(present))
        inverse = number[packed]
    else:
        present, inverse = np.unique(packed, return_inverse=True)
        inverse = inverse.reshape(-1).astype(np.intp)
    group_a, group_b = np.divmod(present, nb)
    return group_a.astype(np.intp), group_b.astype(np.intp), inverse


def sums(inverse: IntArray, weights: FloatArray, groups: int) -> FloatArray:
    """Σ ``weights`` per group, added in row order (as a plain Python loop would)."""
    out: FloatArray = np.bincount(inverse, weights=weights, minlength=groups).astype(
        np.float64, copy=False
    )
    return out


def net_keys(cols: Columns, notional: FloatArray, scale_minus_one: FloatArray) -> Netted:
    """Net the positions per (world, symbol, venue): notional change and mark weights.

    Args:
        cols: the position columns.
        notional: ``qty · mark`` per position.
        scale_minus_one: ``s − 1`` per position, ``s`` its effective strategy scale.

    Returns:
        The netted keys in (world, symbol, venue) order.
    """
    nv, ns = len(cols.venues), len(cols.symbols)
    if len(cols.worlds) * ns * nv < _PACK_LIMIT:  # (world, symbol) packed into one code
        world_symbol, venue, inverse = group(cols.world * ns + cols.symbol, cols.venue, nv)
        world, symbol = np.divmod(world_symbol, ns)
    else:
        gw, gs, ws = group(cols.world, cols.symbol, ns)
        pair, venue, inverse = group(ws, cols.venue, nv)
        world, symbol = gw[pair], gs[pair]
    keys = len(venue)
    return Netted(
        world=world,
        symbol=symbol,
        venue=venue,
        change=sums(inverse, notional * scale_minus_one, keys),
        abs_qty=sums(inverse, np.abs(cols.qty), keys),
        abs_notional=sums(inverse, np.abs(notional), keys),
    )


def as_objects(names: Iterable[str | None]) -> npt.NDArray[np.object_]:
    """``names`` as a numpy object array (so codes can pick names in one indexing step)."""
    items = list(names)
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


class PlanOverflowError(ValueError):
    """A planned figure is not finite (inputs so large that the arithmetic overflows)."""


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
