"""Rebalance planning math (SPEC §3): scaling, overlay and hybrid; pure and O(positions)."""

from __future__ import annotations

import gc
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from app.contracts.rebalancing import RebalanceRequest, SymbolDelta, WorldPlan
from app.worldservice.lots import LOT_TOLERANCE, round_to_lot
from app.worldservice.netting import (
    NOISE_RELATIVE,
    Columns,
    FloatArray,
    IntArray,
    PlanOverflowError,
    columns,
    group,
    net_keys,
    plan_deltas,
    sums,
)

__all__ = [
    "GC_PAUSE_POSITIONS",
    "LOT_TOLERANCE",
    "MODES",
    "NOISE_RELATIVE",
    "PlanOverflowError",
    "PlanParts",
    "compute_plan",
    "round_to_lot",
    "world_scale",
]

MODES = ("scaling", "overlay", "hybrid")
GC_PAUSE_POSITIONS = 50_000
"""Requests with at least this many positions are planned with the cyclic GC paused."""

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


def world_scale(before: float, after: float) -> float:
    """Return ``g_w = after / before``; with ``before == 0``: 1.0 if ``after > 0`` else 0.0."""
    if before == 0.0:
        return 1.0 if after > 0.0 else 0.0
    return after / before


def _finite(value: float, what: str) -> float:
    if not math.isfinite(value):
        raise PlanOverflowError(f"{what} is not finite; the inputs are too large to plan")
    return value


def _strategy_scales(
    req: RebalanceRequest, g_world: Mapping[str, float], frac: float, cols: Columns,
    notional: FloatArray,
) -> tuple[IntArray, dict[str, dict[str, float]], list[float]]:
    """Pass 1: effective scale of every (world, strategy) with positions (SPEC §3 cascade).

    Returns:
        Each position's (world, strategy) group, ``{world: {strategy: scale}}`` sorted, and
        the scales in group order.
    """
    before_maps = req.strategy_alloc_before_total or {}
    after_maps = req.strategy_alloc_after_total or {}
    equity = req.total_equity
    pair_world, pair_strategy, pair = group(cols.world, cols.strategy, len(cols.strategies))
    # Net notional per strategy is only needed where an explicit after map meets a computed
    # before allocation.
    net: list[float] = [0.0] * len(pair_world)
    gross: list[float] = []
    if any(world not in before_maps for world in after_maps):
        net = sums(pair, notional, len(pair_world)).tolist()
        if equity <= 0.0:  # allocations are then measured against the world's gross notional
            gross = sums(cols.world, np.abs(notional), len(cols.worlds)).tolist()

    after_w = req.world_alloc_after
    keep = 1.0 - frac
    worlds, strategies = cols.worlds, cols.strategies
    by_world: dict[str, dict[str, float]] = {}
    scales: list[float] = []
    for w, s, n in zip(pair_world.tolist(), pair_strategy.tolist(), net,
                       strict=True):
        world, strategy = worlds[w], strategies[s]
        g_w = g_world.get(world)
        if g_w is None:
            raise ValueError(f"world {world!r} has positions but no allocation")
        after_map = after_maps.get(world)
        if after_map is None or strategy not in after_map:
            g = g_w  # cascade (before × g_w) / before, or absent from the after map
        else:
            before_map = before_maps.get(world)
            if before_map is not None:
                before = before_map.get(strategy, 0.0)
            else:
                denom = equity if equity > 0.0 else gross[w]
                before = n / denom if denom > 0.0 else 0.0
            if before <= 0.0:
                g = g_w if after_w.get(world, 0.0) > 0.0 else 0.0
            else:
                g = _finite(after_map[strategy] / before, "a strategy scale")
        g = 1.0 + keep * (g - 1.0) if frac else g
        scales.append(g)
        by_world.setdefault(world, {})[strategy] = g
    return pair, by_world, scales


def _scaling(
    req: RebalanceRequest, g_world: Mapping[str, float], frac: float, cols: Columns
) -> tuple[dict[str, list[SymbolDelta]], list[SymbolDelta], dict[str, dict[str, float]]]:
    """Scale every position by its strategy's scale and net the changes (vectorised)."""
    notional = cols.qty * cols.mark
    pair, strategy_scales, scales = _strategy_scales(req, g_world, frac, cols, notional)
    # Overlay (f = 1) leaves every position untouched: skip the netting pass.
    if frac >= 1.0 or not cols.n:
        return {}, [], strategy_scales
    net = net_keys(cols, notional, np.asarray(scales, np.float64)[pair] - 1.0)
    per_world, global_deltas = plan_deltas(
        cols, net, req.lot_size_by_symbol or {}, req.min_trade_notional or 0.0
    )
    return per_world, global_deltas, strategy_scales


def _overlay(
    req: RebalanceRequest, g_world: Mapping[str, float], frac: float, cols: Columns
) -> list[SymbolDelta]:
    """Overlay trades: ``f·(g_w − 1)·N_w`` per world, netted per instrument."""
    overlay = req.overlay
    if overlay is None:
        raise ValueError("overlay and hybrid modes need an overlay config")
    net = sums(cols.world, cols.qty * cols.mark, len(cols.worlds)).tolist()
    # Worlds in the order the positions first name them (the order the sums per
    # instrument are added in).
    _, first = np.unique(cols.world, return_index=True)
    by_instrument: dict[str, float] = {}
    for code in np.argsort(first, kind="stable").tolist():
        world, n_w = cols.worlds[code], net[code]
        change = frac * (g_world[world] - 1.0) * n_w
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
        qty = _finite(change / overlay.price_by_symbol[instrument], "an overlay quantity")
        lot = lot_by_symbol.get(instrument)
        if lot is not None:
            qty = round_to_lot(qty, lot)
            if not qty:
                continue
        out.append(SymbolDelta(symbol=instrument, delta_qty=qty))
    return out


def compute_plan(req: RebalanceRequest, cols: Columns | None = None) -> PlanParts:
    """Plan a validated request (SPEC §3).

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
    mode = req.mode.lower()
    if mode not in MODES:
        raise ValueError(f"unknown mode {req.mode!r}")
    before, after = req.world_alloc_before, req.world_alloc_after
    g_world = {
        w: _finite(world_scale(before.get(w, 0.0), after.get(w, 0.0)), "a world scale")
        for w in sorted(set(before) | set(after))
    }
    if mode == "scaling":
        frac = 0.0
    elif mode == "overlay":
        frac = 1.0
    elif req.overlay is None or req.overlay.overlay_fraction is None:
        raise ValueError("hybrid mode needs overlay.overlay_fraction")
    else:
        frac = req.overlay.overlay_fraction
    if cols is None:
        cols = columns(req.positions)
    # Nothing the planner allocates can form a cycle, so the cyclic GC is paused for big
    # requests (it mattered for the per-key dicts of the pure-Python planner; with the
    # numpy passes the difference is now within noise).
    pause_gc = len(req.positions) >= GC_PAUSE_POSITIONS and gc.isenabled()
    if pause_gc:
        gc.disable()
    try:
        per_world_deltas, global_deltas, strategy_scales = _scaling(req, g_world, frac, cols)
    finally:
        if pause_gc:
            gc.enable()
    per_world = {
        w: WorldPlan(
            world_id=w,
            scale_world=g,
            scale_by_strategy=strategy_scales.get(w, {}),
            deltas=per_world_deltas.get(w, []),
        )
        for w, g in g_world.items()
    }
    overlay_deltas = None if mode == "scaling" else _overlay(req, g_world, frac, cols)
    return PlanParts(
        per_world=per_world, global_deltas=global_deltas, overlay_deltas=overlay_deltas
    )
