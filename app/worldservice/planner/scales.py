"""The second planner pass: world scales and each (world, strategy)'s effective scale."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from app.contracts.rebalancing import RebalanceRequest
from app.worldservice.planner.arrays import FloatArray, IntArray, finite, group, sums
from app.worldservice.planner.columns import Columns

__all__ = ["StrategyScales", "overlay_fraction", "strategy_scales", "world_scale", "world_scales"]


def world_scale(before: float, after: float) -> float:
    """Return ``g_w = after / before``; with ``before == 0``: 1.0 if ``after > 0`` else 0.0."""
    if before == 0.0:
        return 1.0 if after > 0.0 else 0.0
    return after / before


def world_scales(req: RebalanceRequest) -> dict[str, float]:
    """``g_w`` of every world named in either allocation map, sorted by world id.

    Raises:
        PlanOverflowError: a scale overflowed.
    """
    before, after = req.world_alloc_before, req.world_alloc_after
    return {
        w: finite(
            world_scale(before.get(w, 0.0), after.get(w, 0.0)),
            "a world scale",
            f"$.world_alloc_before[{json.dumps(w)}]",
        )
        for w in sorted(set(before) | set(after))
    }


def overlay_fraction(req: RebalanceRequest) -> float:
    """The share ``f`` of the move made by the overlay: 0 scaling, 1 overlay, else hybrid's.

    Raises:
        ValueError: an unknown mode or a hybrid without ``overlay_fraction`` (the
            validator reports both as 422 before planning).
    """
    mode = req.mode.lower()
    if mode == "scaling":
        return 0.0
    if mode == "overlay":
        return 1.0
    if mode != "hybrid":
        raise ValueError(f"unknown mode {req.mode!r}")
    if req.overlay is None or req.overlay.overlay_fraction is None:
        raise ValueError("hybrid mode needs overlay.overlay_fraction")
    return req.overlay.overlay_fraction


@dataclass(frozen=True, slots=True)
class StrategyScales:
    """The effective scale of every (world, strategy) with positions.

    Attributes:
        pair: each position's (world, strategy) group number.
        pair_world, pair_strategy: each group's world and strategy codes.
        by_world: ``{world: {strategy: scale}}`` sorted (the answer's ``scale_by_strategy``).
        per_position: each position's scale minus one (``s − 1``), for netting.
        before, after: each group's allocation before and after, as fractions of total
            equity after the cascade (only when asked for, else empty).
    """

    pair: IntArray
    pair_world: IntArray
    pair_strategy: IntArray
    by_world: dict[str, dict[str, float]]
    per_position: FloatArray
    before: FloatArray
    after: FloatArray


def strategy_scales(
    req: RebalanceRequest, g_world: Mapping[str, float], frac: float, cols: Columns,
    notional: FloatArray, *, fractions: bool = False,
) -> StrategyScales:
    """Effective scale of every (world, strategy) with positions (the cascade of §3).

    A strategy's allocations before come from ``strategy_alloc_before_total`` or its net
    notional over the equity; after from ``strategy_alloc_after_total`` or before × ``g_w``.
    Hybrid keeps ``1 + (1 − f)(g − 1)`` of every scale.

    Args:
        req: the validated request.
        g_world: the world scales.
        frac: the overlay fraction ``f``.
        cols: the position columns.
        notional: ``qty · mark`` per position.
        fractions: also return every group's allocation before and after (the band's
            inputs).

    Raises:
        PlanOverflowError: a scale overflowed.
    """
    before_maps = req.strategy_alloc_before_total or {}
    after_maps = req.strategy_alloc_after_total or {}
    equity = req.total_equity
    pair_world, pair_strategy, pair = group(cols.world, cols.strategy, len(cols.strategies))
    # Net notional per strategy is only needed where an explicit after map meets a computed
    # before allocation.
    net: list[float] = [0.0] * len(pair_world)
    gross: list[float] = []
    if fractions or any(world not in before_maps for world in after_maps):
        net = sums(pair, notional, len(pair_world)).tolist()
        if equity <= 0.0:  # allocations are then measured against the world's gross notional
            gross = sums(cols.world, np.abs(notional), len(cols.worlds)).tolist()

    after_w = req.world_alloc_after
    keep = 1.0 - frac
    worlds, strategies = cols.worlds, cols.strategies
    by_world: dict[str, dict[str, float]] = {}
    scales: list[float] = []
    befores: list[float] = []
    afters: list[float] = []
    for w, s, n in zip(pair_world.tolist(), pair_strategy.tolist(), net, strict=True):
        world, strategy = worlds[w], strategies[s]
        g_w = g_world.get(world)
        if g_w is None:
            raise ValueError(f"world {world!r} has positions but no allocation")
        after_map = after_maps.get(world)
        explicit = after_map is not None and strategy in after_map
        if explicit or fractions:
            before_map = before_maps.get(world)
            if before_map is not None:
                before = before_map.get(strategy, 0.0)
            else:
                denom = equity if equity > 0.0 else gross[w]
                before = n / denom if denom > 0.0 else 0.0
        if after_map is None or strategy not in after_map:
            g = g_w  # cascade (before × g_w) / before, or absent from the after map
            after = before * g_w if fractions else 0.0
        else:
            after = after_map[strategy]
            if before <= 0.0:
                g = g_w if after_w.get(world, 0.0) > 0.0 else 0.0
            else:
                g = finite(
                    after / before,
                    "a strategy scale",
                    f"$.strategy_alloc_after_total[{json.dumps(world)}][{json.dumps(strategy)}]",
                )
        if fractions:
            befores.append(before)
            afters.append(after)
        g = 1.0 + keep * (g - 1.0) if frac else g
        scales.append(g)
        by_world.setdefault(world, {})[strategy] = g
    per_position = np.asarray(scales, np.float64)[pair] - 1.0 if scales else np.zeros(0)
    return StrategyScales(
        pair=pair, pair_world=pair_world, pair_strategy=pair_strategy, by_world=by_world,
        per_position=per_position, before=np.asarray(befores, np.float64),
        after=np.asarray(afters, np.float64),
    )
