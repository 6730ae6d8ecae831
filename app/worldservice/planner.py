"""Rebalance planning math (SPEC §3): scaling, overlay and hybrid; pure and O(positions)."""

from __future__ import annotations

import gc
import math
from collections.abc import Mapping
from dataclasses import dataclass

from app.contracts.rebalancing import RebalanceRequest, SymbolDelta, WorldPlan
from app.worldservice.lots import (
    EXACT_INT_LIMIT,
    LOT_TOLERANCE,
    LotInfo,
    lot_info,
    lot_qty,
    round_to_lot,
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
_INF = math.inf
GC_PAUSE_POSITIONS = 50_000
"""Requests with at least this many positions are planned with the cyclic GC paused."""
NOISE_RELATIVE = 1e-12
"""A netted notional change smaller than this fraction of the key's gross notional is float
noise from summation order (not a trade) and is treated as zero."""

_Key = tuple[str, str]  # (symbol, venue or "")
_WKey = tuple[str, str, str]  # (world, symbol, venue or "")


class PlanOverflowError(ValueError):
    """A planned figure is not finite (inputs so large that the arithmetic overflows)."""


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
    req: RebalanceRequest, g_world: Mapping[str, float], frac: float
) -> dict[tuple[str, str], float]:
    """Pass 1: effective scale of every (world, strategy) with positions (SPEC §3 cascade)."""
    positions = req.positions
    before_maps = req.strategy_alloc_before_total or {}
    after_maps = req.strategy_alloc_after_total or {}
    equity = req.total_equity
    notional: dict[tuple[str, str], float]
    gross: dict[str, float] = {}
    # Net notional per strategy is only needed where an explicit after map meets a computed
    # before allocation; otherwise collecting the (world, strategy) pairs is enough.
    if any(world not in before_maps for world in after_maps):
        notional = {}
        get = notional.get
        for p in positions:
            key = (p.world_id, p.strategy_id)
            notional[key] = get(key, 0.0) + p.qty * p.mark
        if equity <= 0.0:  # allocations are then measured against the world's gross notional
            for p in positions:
                gross[p.world_id] = gross.get(p.world_id, 0.0) + abs(p.qty * p.mark)
    else:
        notional = dict.fromkeys({(p.world_id, p.strategy_id) for p in positions}, 0.0)

    after_w = req.world_alloc_after
    keep = 1.0 - frac
    scales: dict[tuple[str, str], float] = {}
    for (world, strategy), n in notional.items():
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
                denom = equity if equity > 0.0 else gross[world]
                before = n / denom if denom > 0.0 else 0.0
            if before <= 0.0:
                g = g_w if after_w.get(world, 0.0) > 0.0 else 0.0
            else:
                g = _finite(after_map[strategy] / before, "a strategy scale")
        scales[(world, strategy)] = 1.0 + keep * (g - 1.0) if frac else g
    return scales


def _net_world_deltas(
    req: RebalanceRequest, scales: Mapping[tuple[str, str], float]
) -> dict[_WKey, list[float]]:
    """Pass 2: per (world, symbol, venue): [notional change, Σ|qty|, Σ|qty|·mark]."""
    acc: dict[_WKey, list[float]] = {}
    get = acc.get
    for p in req.positions:
        key = (p.world_id, p.symbol, p.venue or "")
        q = p.qty
        m = p.mark
        a = -q if q < 0.0 else q
        d = q * m * (scales[(p.world_id, p.strategy_id)] - 1.0)
        entry = get(key)
        if entry is None:
            acc[key] = [d, a, a * m]
        else:
            entry[0] += d
            entry[1] += a
            entry[2] += a * m
    return acc


def _scaling(
    req: RebalanceRequest, g_world: Mapping[str, float], frac: float
) -> tuple[dict[str, list[SymbolDelta]], list[SymbolDelta], dict[str, dict[str, float]]]:
    scales = _strategy_scales(req, g_world, frac)
    # Overlay (f = 1) leaves every position untouched: skip the netting pass.
    acc = _net_world_deltas(req, scales) if frac < 1.0 else {}
    lot_by_symbol = req.lot_size_by_symbol or {}
    lot_infos: dict[str, LotInfo] = {}
    dust = req.min_trade_notional or 0.0
    noise = NOISE_RELATIVE
    tol = LOT_TOLERANCE
    exact = EXACT_INT_LIMIT
    per_world: dict[str, list[SymbolDelta]] = {}
    g_counts: dict[_Key, int] = {}
    g_floats: dict[_Key, float] = {}
    g_weight: dict[_Key, list[float]] = {}
    current_world = None
    deltas: list[SymbolDelta] = []
    # Sorted keys give each world's deltas in (symbol, venue) order, worlds grouped.
    # The hot loop inlines the lot helpers: this runs once per netted (world, symbol, venue).
    for key in sorted(acc):
        d, abs_q, abs_n = acc[key]
        world, symbol, venue = key
        gkey = (symbol, venue)
        if dust:  # the global dust check needs the all-worlds quantity-weighted mark
            weight = g_weight.get(gkey)
            if weight is None:
                g_weight[gkey] = [abs_q, abs_n]
            else:
                weight[0] += abs_q
                weight[1] += abs_n
        ad = -d if d < 0.0 else d
        if ad <= noise * abs_n or ad < dust:
            continue
        qty = d * abs_q / abs_n  # d / (quantity-weighted mark)
        if not -_INF < qty < _INF:
            raise PlanOverflowError("a delta quantity is not finite")
        lot = lot_by_symbol.get(symbol)
        if lot is None:
            g_floats[gkey] = g_floats.get(gkey, 0.0) + qty
        else:
            units = qty / lot
            count = round(units)
            if not -tol <= units - count <= tol:
                count = int(units)  # toward zero
            if not count:
                continue
            info = lot_infos.get(symbol)
            if info is None:
                info = lot_infos[symbol] = lot_info(lot)
            num = count * info[1]  # lot_qty inlined
            qty = num / info[2] if -exact < num < exact else lot_qty(count, info)
            g_counts[gkey] = g_counts.get(gkey, 0) + count
        if world != current_world:
            current_world = world
            deltas = per_world[world] = []
        deltas.append(SymbolDelta(symbol=symbol, delta_qty=qty, venue=venue or None))

    global_items = [(k, lot_qty(c, lot_infos[k[0]])) for k, c in g_counts.items() if c]
    global_items.extend(g_floats.items())
    global_items.sort()
    global_deltas: list[SymbolDelta] = []
    for (symbol, venue), qty in global_items:
        if qty == 0.0:
            continue
        if dust:
            abs_q, abs_n = g_weight[(symbol, venue)]
            if abs(qty) * abs_n / abs_q < dust:
                continue
        global_deltas.append(SymbolDelta(symbol=symbol, delta_qty=qty, venue=venue or None))

    strategy_scales: dict[str, dict[str, float]] = {}
    for (world, strategy), g in sorted(scales.items()):
        strategy_scales.setdefault(world, {})[strategy] = g
    return per_world, global_deltas, strategy_scales


def _overlay(
    req: RebalanceRequest, g_world: Mapping[str, float], frac: float
) -> list[SymbolDelta]:
    """Overlay trades: ``f·(g_w − 1)·N_w`` per world, netted per instrument."""
    overlay = req.overlay
    if overlay is None:
        raise ValueError("overlay and hybrid modes need an overlay config")
    net: dict[str, float] = {}
    get = net.get
    for p in req.positions:
        net[p.world_id] = get(p.world_id, 0.0) + p.qty * p.mark
    by_instrument: dict[str, float] = {}
    for world, n_w in net.items():
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


def compute_plan(req: RebalanceRequest) -> PlanParts:
    """Plan a validated request (SPEC §3).

    Args:
        req: a request that passed ``validate_request``.

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
    # The planner allocates one small list and tuple per netted key and none of them can
    # form a cycle; pausing the cyclic GC for big requests saves its repeated rescans of
    # the growing dicts (~15% at 100k+ positions).
    pause_gc = len(req.positions) >= GC_PAUSE_POSITIONS and gc.isenabled()
    if pause_gc:
        gc.disable()
    try:
        per_world_deltas, global_deltas, strategy_scales = _scaling(req, g_world, frac)
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
    overlay_deltas = None if mode == "scaling" else _overlay(req, g_world, frac)
    return PlanParts(
        per_world=per_world, global_deltas=global_deltas, overlay_deltas=overlay_deltas
    )
