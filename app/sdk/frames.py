"""Plans as flat rows, ready for ``pandas.DataFrame(rows)`` or ``csv.DictWriter``.

The SDK depends on no data-frame library: these helpers return lists of plain dicts, which
every such library takes as they are (``pandas.DataFrame(plan_rows(plan))``,
``polars.DataFrame(plan_rows(plan))``).
"""

from __future__ import annotations

from typing import Any

from app.contracts.rebalancing import PlanResponse, PlanV2

__all__ = ["metric_rows", "plan_rows"]


def plan_rows(plan: PlanResponse) -> list[dict[str, Any]]:
    """One row per delta of ``plan``.

    Columns: ``scope`` (``per_world``, ``global`` or ``overlay``), ``world_id`` (None for
    global and overlay deltas), ``venue``, ``symbol``, ``delta_qty`` and ``scale_world``
    (None outside ``per_world``). Worlds come in the plan's order, then the global and
    overlay deltas.
    """
    rows: list[dict[str, Any]] = []
    for world_id, world in plan.per_world.items():
        for delta in world.deltas:
            rows.append({"scope": "per_world", "world_id": world_id, "venue": delta.venue,
                         "symbol": delta.symbol, "delta_qty": delta.delta_qty,
                         "scale_world": world.scale_world})
    for scope, deltas in (("global", plan.global_deltas), ("overlay", plan.overlay_deltas)):
        for delta in deltas or ():
            rows.append({"scope": scope, "world_id": None, "venue": delta.venue,
                         "symbol": delta.symbol, "delta_qty": delta.delta_qty,
                         "scale_world": None})
    return rows


def metric_rows(plan: PlanResponse) -> list[dict[str, Any]]:
    """One row per world and per (strategy, world) of a v2 plan's ``alpha_metrics``.

    Columns: ``world_id``, ``strategy_id`` (None for a world's own row) and the six metrics
    without their ``alpha_performance.`` prefix (``sharpe``, ``max_drawdown``, ...). A v1
    plan has no metrics: the list is empty.
    """
    if not isinstance(plan, PlanV2):
        return []
    rows: list[dict[str, Any]] = []
    metrics = plan.alpha_metrics
    for world_id, values in metrics.per_world.items():
        rows.append({"world_id": world_id, "strategy_id": None, **_short(values)})
    for strategy_id, by_world in metrics.per_strategy.items():
        for world_id, values in by_world.items():
            rows.append({"world_id": world_id, "strategy_id": strategy_id, **_short(values)})
    return rows


def _short(values: dict[str, float]) -> dict[str, float]:
    return {key.rpartition(".")[2]: value for key, value in values.items()}
