"""The third planner pass: notional changes netted per (world, symbol, venue)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.worldservice.planner.arrays import (
    PACK_LIMIT,
    FloatArray,
    IntArray,
    group,
    overflow_at,
    sums,
)
from app.worldservice.planner.columns import Columns

__all__ = ["Netted", "net_keys"]


@dataclass(frozen=True, slots=True)
class Netted:
    """Per netted (world, symbol, venue) key, in key order: codes and summed figures.

    Attributes:
        world, symbol, venue: the key's codes (see ``Columns``).
        change: Σ notional change; ``abs_qty``: Σ|qty|; ``abs_notional``: Σ|qty|·mark.
        key: each position's key number (also names the positions behind a key).
    """

    world: IntArray
    symbol: IntArray
    venue: IntArray
    change: FloatArray
    abs_qty: FloatArray
    abs_notional: FloatArray
    key: IntArray

    def positions_of(self, keys: IntArray) -> IntArray:
        """The indices of the positions netted into ``keys`` (key numbers)."""
        mask = np.zeros(len(self.change), bool)
        mask[keys] = True
        return np.flatnonzero(mask[self.key])


def net_keys(cols: Columns, notional: FloatArray, scale_minus_one: FloatArray) -> Netted:
    """Net the positions per (world, symbol, venue): notional change and mark weights.

    Args:
        cols: the position columns.
        notional: ``qty · mark`` per position.
        scale_minus_one: ``s − 1`` per position, ``s`` its effective strategy scale.

    Returns:
        The netted keys in (world, symbol, venue) order.

    Raises:
        PlanOverflowError: a position's change or a key's sums overflowed (it names the
            positions).
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
    with np.errstate(all="ignore"):
        per_position = notional * scale_minus_one
        bad = ~np.isfinite(per_position)
        if bad.any():
            raise overflow_at("a position's notional change", np.flatnonzero(bad))
        net = Netted(
            world=world,
            symbol=symbol,
            venue=venue,
            change=sums(inverse, per_position, keys),
            abs_qty=sums(inverse, np.abs(cols.qty), keys),
            abs_notional=sums(inverse, np.abs(notional), keys),
            key=inverse,
        )
    bad_keys = ~(np.isfinite(net.change) & np.isfinite(net.abs_qty)
                 & np.isfinite(net.abs_notional))
    if bad_keys.any():  # sums of finite figures past the float range
        raise overflow_at("a netted change", net.positions_of(np.flatnonzero(bad_keys)))
    return net
