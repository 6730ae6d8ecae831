"""Gateway execution wire types: orders, dropped deltas, the execute response."""

from __future__ import annotations

from typing import Literal

import msgspec

from app.contracts.rebalancing import AlphaMetricsEnvelope, SymbolDelta
from app.contracts.risk import CheckedStates, DeniedOrder, ExecutionStatus

__all__ = [
    "BatchSummary",
    "DroppedOrder",
    "ExecuteResponse",
    "ExecutionState",
    "Order",
    "Scope",
    "SharedAccountFigures",
    "StrategyOrder",
]

Scope = Literal["per_world", "global", "per_strategy"]
ExecutionState = Literal["previewed", "submitted"]


class Order(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One order. ``quantity`` is signed (buy > 0); ``price`` is the tick-rounded reference
    price, set only when a tick size applies; ``reduce_only`` is present only when true (as
    QMTL sends it); ``strategy_id`` is set for per-strategy executions."""

    symbol: str
    quantity: float
    side: Literal["buy", "sell"]
    time_in_force: str
    venue: str | None = None
    reduce_only: bool | None = None
    strategy_id: str | None = None
    price: float | None = None


class DroppedOrder(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A delta that produced no order, and why (``lot_size``, ``min_notional``,
    ``min_trade_notional``, ``tick_size``, ``overlay_unmapped`` or ``no_strategy``)."""

    world_id: str
    symbol: str
    quantity: float
    reason: str
    detail: str
    venue: str | None = None
    strategy_id: str | None = None


class SharedAccountFigures(msgspec.Struct, frozen=True, kw_only=True):
    """Notional figures of a shared-account (global) execution, checked against the policy.

    ``gross_notional``/``net_notional`` are the orders' (Σ|n| and Σn); the exposure figures
    are signed net notional of the positions before (``current``) and after
    (``projected``) the orders; ``margin_headroom`` is judged on the projected exposure.
    """

    gross_notional: float
    net_notional: float
    current_net_notional: float
    projected_net_notional: float
    margin_headroom: float | None
    total_equity: float


class StrategyOrder(msgspec.Struct, frozen=True, kw_only=True):
    """One entry of ``orders_per_strategy``: an order and the world and strategy it is for
    (``strategy_id`` is null for an overlay order, which belongs to the world)."""

    world_id: str
    strategy_id: str | None
    order: Order


class BatchSummary(msgspec.Struct, frozen=True, kw_only=True):
    """One submitted batch (one ``rebalancing_orders`` event)."""

    batch_id: str
    world_id: str
    scope: Scope
    event_id: str
    total: int
    reduce_only: int


class ExecuteResponse(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """``POST /rebalancing/execute`` answer.

    ``orders_per_world`` holds the batches of ``per_world`` and ``per_strategy`` scopes
    (per strategy, ``orders_per_strategy`` lists the same orders with their world and
    strategy, as QMTL's consumers read them); ``orders_global`` the single netted batch of
    a shared-account execution, marked by ``shared_account: true`` with the policy figures
    in ``shared_account_figures``; ``overlay_deltas`` echoes the plan's in overlay/hybrid.
    The orders listed are those that passed the risk checks; ``denied`` lists the others.
    A preview (``state: previewed``) carries the ``execution_id`` and ``etag`` to submit it
    with, and ``expires_at``; ``risk_states`` are the trading states its orders were
    checked against.
    """

    scope: Scope
    orders_per_world: dict[str, list[Order]]
    dropped: list[DroppedOrder]
    rebalance_schema_version: int
    alpha_metrics_capable: bool
    submitted: bool
    orders_per_strategy: list[StrategyOrder] | None = None
    orders_global: list[Order] | None = None
    overlay_deltas: list[SymbolDelta] | None = None
    shared_account: bool | None = None
    shared_account_figures: SharedAccountFigures | None = None
    execution_id: str | None = None
    batches: list[BatchSummary] | None = None
    alpha_metrics: AlphaMetricsEnvelope | None = None
    status: ExecutionStatus | None = None
    denied: list[DeniedOrder] | None = None
    state: ExecutionState | None = None
    etag: str | None = None
    expires_at: str | None = None
    risk_states: CheckedStates | None = None
    all_or_nothing: bool = False
