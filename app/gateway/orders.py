"""Pure conversion of a rebalance plan into orders (SPEC §8): no I/O, no framework imports.

Deltas are keyed by (batch, strategy, venue, canonical symbol) and every step is one pass
over positions and deltas, so conversion is linear in the input.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Literal

import msgspec

from app.contracts.lots import round_to_lot, round_to_tick, subtract_lots
from app.contracts.orders import DroppedOrder, Order, Scope
from app.contracts.rebalancing import PlanResponse, RebalanceRequest, SymbolDelta
from app.errors import Code, ValidationFailedError
from app.gateway.constraints import RuleBook
from app.gateway.per_strategy import per_strategy_deltas
from app.gateway.pricing import Holding, Prices

__all__ = [
    "GLOBAL_BATCH",
    "Conversion",
    "DroppedOrder",
    "FlipPolicy",
    "Holding",
    "Order",
    "OrderBatch",
    "Scope",
    "convert_plan",
]

FlipPolicy = Literal["flatten_then_open", "direct"]
GLOBAL_BATCH = "global"
"""``world_id`` of the single batch of a shared-account (global) execution (QMTL's name)."""

_Key = tuple[str, str | None, str | None, str]  # (batch world, strategy, venue, symbol)


class OrderBatch(msgspec.Struct, frozen=True, kw_only=True):
    """The orders of one world (or of the whole account for ``scope="global"``)."""

    world_id: str
    scope: Scope
    orders: list[Order]


class Conversion(msgspec.Struct, frozen=True, kw_only=True):
    """The result: batches in plan order, dropped deltas, order notional figures (Σ|n|, Σn),
    the signed net notional of the positions before the orders (Σ qty·mark), and the
    holdings of every batch (what the pre-trade risk checks judge the orders against)."""

    scope: Scope
    batches: list[OrderBatch]
    dropped: list[DroppedOrder]
    gross_notional: float
    net_notional: float
    current_net_notional: float = 0.0
    holdings: list[Holding] = msgspec.field(default_factory=list)


class _Builder:
    """Accumulates deltas, then turns each into zero, one or two orders."""

    def __init__(
        self, request: RebalanceRequest, rules: RuleBook, flip_policy: FlipPolicy, scope: Scope
    ):
        self.request = request
        self.rules = rules
        self.flip_policy = flip_policy
        self.scope = scope
        self.current_net = 0.0
        self.held: dict[_Key, float] = {}
        self.deltas: dict[_Key, float] = {}
        self.raw_symbol: dict[_Key, str] = {}
        self.prices = Prices()
        self.dropped: list[DroppedOrder] = []

    def canonical(self, venue: str | None, symbol: str) -> str:
        return self.rules.instrument(venue, symbol).symbol

    def price(self, world: str, venue: str | None, symbol: str) -> float | None:
        return self.prices.price(world, venue, symbol, account=self.scope == "global")

    def index_positions(self) -> None:
        scope = self.scope
        for pos in self.request.positions:
            symbol = self.canonical(pos.venue, pos.symbol)
            self.prices.add(pos.world_id, pos.venue, symbol, pos.qty, pos.mark)
            self.current_net += pos.qty * pos.mark
            if scope == "global":
                key: _Key = (GLOBAL_BATCH, None, pos.venue, symbol)
            elif scope == "per_strategy":
                key = (pos.world_id, pos.strategy_id, pos.venue, symbol)
            else:
                key = (pos.world_id, None, pos.venue, symbol)
            self.held[key] = self.held.get(key, 0.0) + pos.qty
        overlay = self.request.overlay
        if overlay is not None:
            for symbol, price in overlay.price_by_symbol.items():
                self.prices.symbol.setdefault(self.canonical(None, symbol), price)

    def add(
        self, world: str, strategy: str | None, venue: str | None, symbol: str, qty: float
    ) -> None:
        key: _Key = (world, strategy, venue, self.canonical(venue, symbol))
        self.deltas[key] = self.deltas.get(key, 0.0) + qty
        self.raw_symbol.setdefault(key, symbol)

    def add_overlay(self, deltas: Iterable[SymbolDelta], *, by_world: bool) -> None:
        overlay = self.request.overlay
        worlds_of: dict[str, list[str]] = {}
        for world, symbol in (overlay.instrument_by_world if overlay else {}).items():
            worlds_of.setdefault(symbol, []).append(world)
        for delta in deltas:
            if not by_world:
                self.add(GLOBAL_BATCH, None, delta.venue, delta.symbol, delta.delta_qty)
                continue
            worlds = worlds_of.get(delta.symbol, [])
            if len(worlds) > 1:
                raise ValidationFailedError(
                    f"Overlay instrument {delta.symbol!r} is mapped to several worlds "
                    f"({', '.join(sorted(worlds))}); its orders cannot be assigned to one world.",
                    code=Code.OVERLAY_EXECUTION_AMBIGUOUS,
                    errors=[{"path": "$.overlay.instrument_by_world", "message": delta.symbol}],
                )
            if not worlds:
                self.drop(
                    GLOBAL_BATCH,
                    None,
                    delta.venue,
                    delta.symbol,
                    delta.delta_qty,
                    "overlay_unmapped",
                    "no world maps to this overlay instrument",
                )
                continue
            self.add(worlds[0], None, delta.venue, delta.symbol, delta.delta_qty)

    def drop(
        self,
        world: str,
        strategy: str | None,
        venue: str | None,
        symbol: str,
        qty: float,
        reason: str,
        detail: str,
    ) -> None:
        self.dropped.append(
            DroppedOrder(
                world_id=world,
                symbol=symbol,
                quantity=qty,
                reason=reason,
                detail=detail,
                venue=venue,
                strategy_id=strategy,
            )
        )

    def _split(self, current: float, qty: float, lot: float | None) -> list[tuple[float, bool]]:
        """Return ``(quantity, reduces)`` parts; reduce only when shrinking ``current``."""
        if current == 0.0 or (current > 0) == (qty > 0):
            return [(qty, False)]
        if abs(qty) <= abs(current):
            return [(qty, True)]
        if self.flip_policy == "direct":
            return [(qty, False)]
        close = -round_to_lot(current, lot)
        if close == 0.0:
            return [(qty, False)]
        rest = subtract_lots(qty, close)  # both are lot multiples: so is the difference
        return [(close, True), (rest, False)] if rest != 0.0 else [(close, True)]

    def orders_for(self, key: _Key, delta: float) -> list[Order]:
        world, strategy, venue, symbol = key
        if not math.isfinite(delta):
            where = f"world {world!r}" + (f", strategy {strategy!r}" if strategy else "")
            raise ValidationFailedError(
                f"The change of {symbol!r} in {where} is not finite; the inputs are too "
                "large to execute.",
                errors=[{"path": "$.positions", "message": f"{symbol} in {where}"}],
            )
        rule = self.rules.instrument(venue, symbol)
        lots = self.request.lot_size_by_symbol or {}
        request_lot = lots.get(self.raw_symbol[key])
        qty = round_to_lot(round_to_lot(delta, request_lot), rule.lot_size)
        if delta == 0.0:
            return []
        if qty == 0.0:
            lot = rule.lot_size or request_lot
            self.drop(
                world,
                strategy,
                venue,
                symbol,
                delta,
                "lot_size",
                f"|quantity| is below one lot of {lot}",
            )
            return []
        price = self.price(world, venue, symbol)
        if price is not None and rule.tick_size is not None:
            price = round_to_tick(price, rule.tick_size)
            if price <= 0.0:
                self.drop(
                    world,
                    strategy,
                    venue,
                    symbol,
                    qty,
                    "tick_size",
                    f"reference price rounds to zero at tick size {rule.tick_size}",
                )
                return []
        limits = [
            ("min_trade_notional", self.request.min_trade_notional or 0.0),
            ("min_notional", rule.min_notional or 0.0),
        ]
        for reason, limit in limits:
            if limit > 0 and (price is None or abs(qty) * price < limit):
                shown = "unknown" if price is None else f"{abs(qty) * price:g}"
                self.drop(
                    world,
                    strategy,
                    venue,
                    symbol,
                    qty,
                    reason,
                    f"order notional {shown} is below {reason} {limit:g}",
                )
                return []
        lot = rule.lot_size or request_lot
        parts = self._split(self.held.get(key, 0.0), qty, lot)
        floor = max(limit for _, limit in limits)
        if len(parts) > 1 and price is not None and any(abs(q) * price < floor for q, _ in parts):
            parts = [(qty, False)]  # a split part would be refused: send the flip as one order
        venue_rule = self.rules.venue(venue)
        out: list[Order] = []
        for part, reduces in parts:
            reduce_only = reduces and venue_rule.supports_reduce_only
            tif = venue_rule.default_time_in_force
            if reduce_only and venue_rule.reduce_only_requires_ioc:
                tif = "IOC"
            out.append(
                Order(
                    symbol=symbol,
                    quantity=part,
                    side="buy" if part > 0 else "sell",
                    time_in_force=tif,
                    venue=venue,
                    reduce_only=True if reduce_only else None,  # present only when true
                    strategy_id=strategy,
                    price=price if rule.tick_size is not None else None,
                )
            )
        return out


def _sells_first(orders: list[Order]) -> list[Order]:
    """The batch's sells, then its buys, each in their original order."""
    return [o for o in orders if o.side == "sell"] + [o for o in orders if o.side != "sell"]


def convert_plan(
    request: RebalanceRequest,
    plan: PlanResponse,
    rules: RuleBook,
    *,
    scope: Scope = "per_world",
    flip_policy: FlipPolicy = "flatten_then_open",
) -> Conversion:
    """Turn ``plan`` (computed for ``request``) into order batches.

    Args:
        request: the rebalance request (its positions give current holdings and marks).
        plan: WorldService's answer for ``request``.
        rules: instrument constraints and venue policies.
        scope: ``per_world`` (one batch per world, the plan's netted deltas),
            ``per_strategy`` (one batch per world, each strategy's own pre-netting delta
            carrying ``strategy_id``) or ``global`` (one batch netted across worlds).
        flip_policy: how an order that crosses zero is sent.

    Returns:
        The batches (only worlds with orders), the dropped deltas and the notional figures.
        With a cash policy on the request, every batch lists its sells before its buys.

    Raises:
        ValidationFailedError: an overlay instrument maps to several worlds
            (``E_OVERLAY_EXECUTION_AMBIGUOUS``).
    """
    b = _Builder(request, rules, flip_policy, scope)
    b.index_positions()
    if scope == "global":
        for delta in plan.global_deltas:
            b.add(GLOBAL_BATCH, None, delta.venue, delta.symbol, delta.delta_qty)
    elif scope == "per_strategy":
        b.dropped.extend(per_strategy_deltas(request, plan, b.canonical, b.add))
    else:
        for world_id, world_plan in plan.per_world.items():
            for delta in world_plan.deltas:
                b.add(world_id, None, delta.venue, delta.symbol, delta.delta_qty)
    b.add_overlay(plan.overlay_deltas or [], by_world=scope != "global")
    per_batch: dict[str, list[Order]] = {}
    gross = net = 0.0
    for key, amount in b.deltas.items():
        orders = b.orders_for(key, amount)
        if not orders:
            continue
        per_batch.setdefault(key[0], []).extend(orders)
        price = b.price(key[0], key[2], key[3]) or 0.0
        for order in orders:
            notional = order.quantity * (order.price if order.price is not None else price)
            gross += abs(notional)
            net += notional
    if request.policy is not None and request.policy.cash is not None:
        # A cash-aware plan funds its buys with its sells: send the sells first.
        per_batch = {w: _sells_first(o) for w, o in per_batch.items()}
    batches = [OrderBatch(world_id=w, scope=scope, orders=o) for w, o in per_batch.items()]
    return Conversion(
        scope=scope,
        batches=batches,
        dropped=b.dropped,
        gross_notional=gross,
        net_notional=net,
        current_net_notional=b.current_net,
        holdings=b.prices.holdings(
            GLOBAL_BATCH if scope == "global" else None, b.deltas
        ),
    )
