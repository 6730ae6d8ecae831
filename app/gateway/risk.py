"""Pure pre-trade risk checks (SPEC §13): no I/O; states, limits and holdings are passed in.

One pass over the converted orders, in batch and order order. Each order is judged against
the running position of its batch in its (venue, symbol) — the holdings plus the orders
that already passed — so a flip sent as a close then an open is judged leg by leg: in a
``REDUCING`` world the closing leg passes and the opening leg is denied. The first check
that fails names the denial; an order that passes moves the running position.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

import msgspec

from app.contracts.orders import Order, Scope
from app.contracts.risk import (
    CheckedState,
    CheckedStates,
    DenialCode,
    DeniedOrder,
    ExecutionStatus,
    RiskStates,
    TradingState,
    stricter,
)
from app.gateway.orders import GLOBAL_BATCH, Holding, OrderBatch

__all__ = [
    "RiskBasis",
    "RiskLimits",
    "RiskOutcome",
    "RiskSpec",
    "check_orders",
    "preview_etag",
]

_PositionKey = tuple[str, str | None, str]  # (batch, venue, symbol)


class _SymbolLists(Protocol):
    @property
    def do_not_buy(self) -> Sequence[str]: ...
    @property
    def do_not_sell(self) -> Sequence[str]: ...


class _RestrictedSpec(_SymbolLists, Protocol):
    @property
    def by_world(self) -> Mapping[str, _SymbolLists]: ...


class RiskSpec(Protocol):
    """The configured limits (``gateway.risk`` fits); None = no limit."""

    @property
    def max_order_notional(self) -> float | None: ...
    @property
    def max_world_gross_notional(self) -> float | None: ...
    @property
    def max_orders_per_execution(self) -> int | None: ...
    @property
    def order_rate_per_minute(self) -> float | None: ...
    @property
    def restricted(self) -> _RestrictedSpec: ...


class RiskLimits(msgspec.Struct, frozen=True, kw_only=True):
    """The limits, indexed for O(1) lookups (build once with :meth:`of`)."""

    max_order_notional: float | None = None
    max_world_gross_notional: float | None = None
    max_orders_per_execution: int | None = None
    rate_limited: bool = False
    do_not_buy: frozenset[str] = frozenset()
    do_not_sell: frozenset[str] = frozenset()
    world_do_not_buy: dict[str, frozenset[str]] = msgspec.field(default_factory=dict)
    world_do_not_sell: dict[str, frozenset[str]] = msgspec.field(default_factory=dict)

    @classmethod
    def of(cls, spec: RiskSpec) -> RiskLimits:
        """Index ``spec`` (the ``gateway.risk`` settings)."""
        restricted = spec.restricted
        return cls(
            max_order_notional=spec.max_order_notional,
            max_world_gross_notional=spec.max_world_gross_notional,
            max_orders_per_execution=spec.max_orders_per_execution,
            rate_limited=spec.order_rate_per_minute is not None,
            do_not_buy=frozenset(restricted.do_not_buy),
            do_not_sell=frozenset(restricted.do_not_sell),
            world_do_not_buy={w: frozenset(v.do_not_buy) for w, v in restricted.by_world.items()},
            world_do_not_sell={
                w: frozenset(v.do_not_sell) for w, v in restricted.by_world.items()
            },
        )

    def restricted_for(self, worlds: Iterable[str]) -> tuple[frozenset[str], frozenset[str]]:
        """The (do-not-buy, do-not-sell) sets that apply to orders of ``worlds``."""
        buy, sell = self.do_not_buy, self.do_not_sell
        for world in worlds:
            buy = buy | self.world_do_not_buy.get(world, frozenset())
            sell = sell | self.world_do_not_sell.get(world, frozenset())
        return buy, sell


class RiskBasis(msgspec.Struct, frozen=True, kw_only=True):
    """What a risk check judges: the converted batches, every batch's holdings, and the
    worlds the execution touches (a shared-account batch is judged under all of them)."""

    scope: Scope
    batches: list[OrderBatch]
    holdings: list[Holding]
    worlds: list[str]
    all_or_nothing: bool = False


class RiskOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """The verdict: the passed orders per batch (empty batches left out), the denials, the
    status, the states judged against, and per batch how many orders passed every check
    but the rate limit (the tokens the execution asks for)."""

    batches: list[OrderBatch]
    denied: list[DeniedOrder]
    status: ExecutionStatus
    checked: CheckedStates
    demand: dict[str, int]


class _BatchRules:
    """The state and restricted lists one batch is judged under."""

    __slots__ = ("code", "detail", "reducing", "do_not_buy", "do_not_sell")

    def __init__(
        self, batch: str, basis: RiskBasis, states: RiskStates, limits: RiskLimits
    ) -> None:
        worlds = basis.worlds if batch == GLOBAL_BATCH else [batch]
        glob = states.global_state.state
        world_state: TradingState = "ACTIVE"
        strictest_world = ""
        for world in worlds:
            state = states.of(world).state
            if stricter(state, world_state) != world_state:
                world_state, strictest_world = state, world
        self.code: DenialCode | None = None
        self.detail = ""
        self.reducing = False
        if glob == "HALTED":
            self.code, self.detail = "GLOBAL_HALTED", "trading is halted globally"
        elif world_state == "HALTED":
            self.code, self.detail = "WORLD_HALTED", f"world {strictest_world!r} is halted"
        else:
            self.reducing = "REDUCING" in (glob, world_state)
            where = "globally" if glob == "REDUCING" else f"in world {strictest_world!r}"
            self.detail = f"only orders that shrink |position| pass {where} (REDUCING)"
        self.do_not_buy, self.do_not_sell = limits.restricted_for(worlds)


def _shrinks(position: float, quantity: float) -> bool:
    """True when the order moves the position toward zero without crossing it."""
    # Signs, not a product: the product of two tiny numbers underflows to zero.
    opposite = (position > 0 > quantity) or (position < 0 < quantity)
    return opposite and abs(quantity) <= abs(position)


def _checked(basis: RiskBasis, states: RiskStates) -> CheckedStates:
    worlds = dict.fromkeys(basis.worlds)
    worlds.update(dict.fromkeys(b.world_id for b in basis.batches if b.world_id != GLOBAL_BATCH))
    return CheckedStates(
        global_=CheckedState(state=states.global_state.state, etag=states.global_state.etag),
        worlds={
            w: CheckedState(state=states.of(w).state, etag=states.of(w).etag)
            for w in sorted(worlds)
        },
    )


def check_orders(
    basis: RiskBasis,
    states: RiskStates,
    limits: RiskLimits,
    budget: Mapping[str, int] | None = None,
) -> RiskOutcome:
    """Judge every order of ``basis``; O(orders + holdings).

    Checks, in this order (the first that fails names the denial): the trading state
    (``GLOBAL_HALTED``, ``WORLD_HALTED``, ``REDUCING_ONLY``), the restricted lists
    (``RESTRICTED_BUY``, ``RESTRICTED_SELL``), ``MAX_ORDER_NOTIONAL``, ``MAX_WORLD_GROSS``
    (only an order that raises the post-trade gross above the limit), ``MAX_ORDERS`` and
    ``RATE_LIMITED``.

    Args:
        basis: the orders, holdings and touched worlds.
        states: the trading states (the stricter of global and world applies).
        limits: the configured limits.
        budget: orders each batch may still send under the rate limit; None = not checked.

    Returns:
        The passed batches, the denials, the status and the demand per batch.
    """
    position: dict[_PositionKey, float] = {}
    price_of: dict[_PositionKey, float | None] = {}
    gross: dict[str, float] = {}
    # Prices and gross figures are only looked up when a limit needs them (a hot loop).
    track_gross = limits.max_world_gross_notional is not None
    needs_price = track_gross or limits.max_order_notional is not None
    for h in basis.holdings:
        key = (h.world_id, h.venue, h.symbol)
        position[key] = h.qty
        price_of[key] = h.price
        if track_gross and h.price is not None:
            gross[h.world_id] = gross.get(h.world_id, 0.0) + abs(h.qty) * h.price
    passed_batches: list[OrderBatch] = []
    denied: list[DeniedOrder] = []
    demand: dict[str, int] = {}
    passed_total = 0
    for batch in basis.batches:
        rules = _BatchRules(batch.world_id, basis, states, limits)
        used = 0
        passed: list[Order] = []
        for order in batch.orders:
            key = (batch.world_id, order.venue, order.symbol)
            held = position.get(key, 0.0)
            qty = order.quantity
            price = None
            raise_by = 0.0
            if needs_price:
                price = order.price if order.price is not None else price_of.get(key)
                if track_gross and price is not None:
                    raise_by = (abs(held + qty) - abs(held)) * price
            code, detail = _verdict(
                rules, limits, order, held, price, raise_by, gross.get(batch.world_id, 0.0),
                passed_total,
            )
            if code is None:
                demand[batch.world_id] = demand.get(batch.world_id, 0) + 1
                if budget is not None and used >= budget.get(batch.world_id, 0):
                    code = "RATE_LIMITED"
                    detail = "the world's order rate limit (gateway.risk.order_rate_per_minute)"
            if code is not None:
                denied.append(
                    DeniedOrder(
                        world_id=batch.world_id, symbol=order.symbol, venue=order.venue,
                        quantity=qty, code=code, detail=detail, strategy_id=order.strategy_id,
                    )
                )
                continue
            position[key] = held + qty
            if raise_by:
                gross[batch.world_id] = gross.get(batch.world_id, 0.0) + raise_by
            used += 1
            passed_total += 1
            passed.append(order)
        if passed:
            passed_batches.append(msgspec.structs.replace(batch, orders=passed))
    status: ExecutionStatus = "completed"
    if denied:
        status = "completed_adjusted" if passed_batches else "rejected"
    return RiskOutcome(
        batches=passed_batches,
        denied=denied,
        status=status,
        checked=_checked(basis, states),
        demand=demand,
    )


def _verdict(
    rules: _BatchRules,
    limits: RiskLimits,
    order: Order,
    held: float,
    price: float | None,
    raise_by: float,
    gross: float,
    passed_total: int,
) -> tuple[DenialCode | None, str]:
    """The first failing check of one order (``(None, "")`` when every check passes, the
    rate limit aside)."""
    qty = order.quantity
    if rules.code is not None:
        return rules.code, rules.detail
    if rules.reducing and not _shrinks(held, qty):
        return "REDUCING_ONLY", f"{rules.detail}; this order takes {held:g} to {held + qty:g}"
    if qty > 0 and order.symbol in rules.do_not_buy:
        return "RESTRICTED_BUY", f"{order.symbol} is on the do-not-buy list"
    if qty < 0 and order.symbol in rules.do_not_sell:
        return "RESTRICTED_SELL", f"{order.symbol} is on the do-not-sell list"
    cap = limits.max_order_notional
    if cap is not None:
        if price is None:
            return "MAX_ORDER_NOTIONAL", "the order has no reference price to value it"
        if abs(qty) * price > cap:
            return "MAX_ORDER_NOTIONAL", f"order notional {abs(qty) * price:g} exceeds {cap:g}"
    cap = limits.max_world_gross_notional
    if cap is not None and abs(held + qty) > abs(held):  # only a growing position can breach
        if price is None:
            return "MAX_WORLD_GROSS", "the order has no reference price to value it"
        if gross + raise_by > cap:
            return "MAX_WORLD_GROSS", f"post-trade gross {gross + raise_by:g} would exceed {cap:g}"
    most = limits.max_orders_per_execution
    if most is not None and passed_total >= most:
        return "MAX_ORDERS", f"an execution carries at most {most} orders"
    return None, ""


def preview_etag(outcome: RiskOutcome) -> str:
    """The etag of a preview: a digest of its passed orders, its denials and the states
    they were checked against."""
    encoded = msgspec.msgpack.encode((outcome.batches, outcome.denied, outcome.checked))
    return hashlib.sha256(encoded).hexdigest()[:32]
