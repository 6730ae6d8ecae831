"""The overlay part of a plan: ``f·(g_w − 1)·N_w`` per world, netted per index instrument."""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np

from app.contracts.lots import round_to_lot
from app.contracts.rebalancing import RebalanceRequest, SymbolDelta
from app.worldservice.planner.arrays import finite, overflow_at, sums
from app.worldservice.planner.columns import Columns

__all__ = ["overlay_deltas"]


def overlay_deltas(
    req: RebalanceRequest, g_world: Mapping[str, float], frac: float, cols: Columns
) -> list[SymbolDelta]:
    """Overlay trades of every world with positions, netted per instrument, sorted.

    Args:
        req: the validated request (its ``overlay`` names instruments and prices).
        g_world: the world scales.
        frac: the overlay fraction ``f`` (1 for overlay mode).
        cols: the position columns.

    Raises:
        ValueError: no overlay config (the validator reports it as 422 first).
        PlanOverflowError: a quantity overflowed.
    """
    overlay = req.overlay
    if overlay is None:
        raise ValueError("overlay and hybrid modes need an overlay config")
    with np.errstate(over="ignore"):
        net = sums(cols.world, cols.qty * cols.mark, len(cols.worlds)).tolist()
    # Worlds in the order the positions first name them (the order the sums per
    # instrument are added in).
    _, first = np.unique(cols.world, return_index=True)
    by_instrument: dict[str, float] = {}
    for code in np.argsort(first, kind="stable").tolist():
        world, n_w = cols.worlds[code], net[code]
        change = frac * (g_world[world] - 1.0) * n_w
        if not np.isfinite(change):  # the world's net notional (or its change) overflowed
            raise overflow_at("a world's overlay notional", np.flatnonzero(cols.world == code))
        if change == 0.0:
            continue
        instrument = overlay.instrument_by_world[world]
        by_instrument[instrument] = by_instrument.get(instrument, 0.0) + change
    lot_by_symbol = req.lot_size_by_symbol or {}
    out: list[SymbolDelta] = []
    for instrument in sorted(by_instrument):
        change = by_instrument[instrument]
        if change == 0.0 or abs(change) < overlay.min_order_notional:
            continue
        qty = finite(
            change / overlay.price_by_symbol[instrument],
            "an overlay quantity",
            f"$.overlay.price_by_symbol[{json.dumps(instrument)}]",
        )
        lot = lot_by_symbol.get(instrument)
        if lot is not None:
            qty = round_to_lot(qty, lot)
            if not qty:
                continue
        out.append(SymbolDelta(symbol=instrument, delta_qty=qty))
    return out
