"""The third planner pass: notional changes netted per (world, symbol, venue)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.worldservice.planner.arrays import PACK_LIMIT, FloatArray, IntArray, group, sums
from app.worldservice.planner.columns import Columns

__all__ = ["Netted", "net_keys"]


@dataclass(frozen=True, slots=True)
class Netted:
    """Per netted (world, symbol, venue) key, in key order: codes and summed figures.

    Attributes:
        world, symbol, venue: the key's codes (see ``Columns``).
        change: Σ notional change; ``abs_qty``: Σ|qty|; ``abs_notional``: Σ|qty|·mark.
        key: each position's key number.
    """

    world: IntArray
    symbol: IntArray
    venue: IntArray
    change: FloatArray
    abs_qty: FloatArray
    abs_notional: FloatArray
    key: IntArray


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
    if len(cols.worlds) * ns * nv < PACK_LIMIT:  # (world, symbol) packed into one code
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
        key=inverse,
    )
