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
from app.gateway.orders import Holding, OrderBatch

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
    status and the states judged against."""

    batches: list[OrderBatch]
    denied: list[DeniedOrder]
    status: ExecutionStatus
    checked: CheckedStates

    def counts(self) -> dict[str, int]:
        """How many orders passed per batch (the rate tokens a submit spends)."""
        return {b.world_id: len(b.orders) for b in self.batches}


class _BatchRules:
    """The state and restricted lists one batch is judged under."""

    __slots__ = ("code", "detail", "reducing", "do_not_buy", "do_not_sell")

    def __init__(
        self, batch: str, basis: RiskBasis, states: RiskStates, limits: RiskLimits
    ) -> None:
        # A shared-account batch trades for every world of the request at once.
        worlds = basis.worlds if basis.scope == "global" else [batch]
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


_CLOSE_TOLERANCE = 1e-9
"""A close may overshoot zero by this fraction of the position: holdings summed from
several slices carry float noise (1.9999999999999858 held, closed by a lot-rounded -2)."""


def _shrinks(position: float, quantity: float) -> bool:
    """True when the order moves the position toward zero without crossing it (beyond
    float noise: see ``_CLOSE_TOLERANCE``)."""
    # Signs, not a product: the product of two tiny numbers underflows to zero.
    opposite = (position > 0 > quantity) or (position < 0 < quantity)
    return opposite and abs(quantity) <= abs(position) * (1.0 + _CLOSE_TOLERANCE)


def _checked(basis: RiskBasis, states: RiskStates) -> CheckedStates:
    worlds = dict.fromkeys(basis.worlds)
    if basis.scope != "global":  # the shared-account batch is not a world
        worlds.update(dict.fromkeys(b.world_id for b in basis.batches))
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
        The passed batches, the denials, the status and the states judged against.
    """
    book = _Book(basis, limits)
    passed_batches: list[OrderBatch] = []
    for batch in basis.batches:
        rules = _BatchRules(batch.world_id, basis, states, limits)
        allowed = None if budget is None else budget.get(batch.world_id, 0)
        passed = book.judge(batch, rules, limits, allowed)
        if passed:
            passed_batches.append(msgspec.structs.replace(batch, orders=passed))
    status: ExecutionStatus = "completed"
    if book.denied:
        status = "completed_adjusted" if passed_batches else "rejected"
    return RiskOutcome(
        batches=passed_batches,
        denied=book.denied,
        status=status,
        checked=_checked(basis, states),
    )


class _Book:
    """The running positions, prices and gross figures of one check, and its denials."""

    def __init__(self, basis: RiskBasis, limits: RiskLimits) -> None:
        self.position: dict[_PositionKey, float] = {}
        self.price_of: dict[_PositionKey, float | None] = {}
        self.gross: dict[str, float] = {}
        self.denied: list[DeniedOrder] = []
        self.passed_total = 0
        # Gross figures are only kept when a limit needs them: this is the hot path.
        self.track_gross = limits.max_world_gross_notional is not None
        for h in basis.holdings:
            key = (h.world_id, h.venue, h.symbol)
            self.position[key] = h.qty
            self.price_of[key] = h.price
            if self.track_gross and h.price is not None:
                self.gross[h.world_id] = self.gross.get(h.world_id, 0.0) + abs(h.qty) * h.price

    def judge(
        self, batch: OrderBatch, rules: _BatchRules, limits: RiskLimits, allowed: int | None
    ) -> list[Order]:
        """Judge one batch's orders in order; return those that pass (denials recorded)."""
        world = batch.world_id
        position, price_of = self.position, self.price_of
        cap_order = limits.max_order_notional
        cap_gross = limits.max_world_gross_notional
        most = limits.max_orders_per_execution
        buy, sell = rules.do_not_buy, rules.do_not_sell
        gross = self.gross.get(world, 0.0)
        passed: list[Order] = []
        for order in batch.orders:
            qty = order.quantity
            key = (world, order.venue, order.symbol)
            held = position.get(key, 0.0)
            growth = abs(held + qty) - abs(held)  # > 0: the order grows |position|
            price = order.price if order.price is not None else price_of.get(key)
            code: DenialCode | None = rules.code
            detail = rules.detail
            if code is not None:
                pass
            elif rules.reducing and not _shrinks(held, qty):
                code = "REDUCING_ONLY"
                detail = f"{detail}; this order takes {held:g} to {held + qty:g}"
            elif qty > 0 and order.symbol in buy:
                code, detail = "RESTRICTED_BUY", f"{order.symbol} is on the do-not-buy list"
            elif qty < 0 and order.symbol in sell:
                code, detail = "RESTRICTED_SELL", f"{order.symbol} is on the do-not-sell list"
            elif cap_order is not None and (price is None or abs(qty) * price > cap_order):
                code, detail = "MAX_ORDER_NOTIONAL", (
                    "the order has no reference price to value it" if price is None
                    else f"order notional {abs(qty) * price:g} exceeds {cap_order:g}"
                )
            elif cap_gross is not None and growth > 0 and (
                price is None or gross + growth * price > cap_gross
            ):
                code, detail = "MAX_WORLD_GROSS", (
                    "the order has no reference price to value it" if price is None
                    else f"post-trade gross {gross + growth * price:g} would exceed {cap_gross:g}"
                )
            elif most is not None and self.passed_total >= most:
                code, detail = "MAX_ORDERS", f"an execution carries at most {most} orders"
            elif allowed is not None and len(passed) >= allowed:
                code = "RATE_LIMITED"
                detail = "the world's order rate limit (gateway.risk.order_rate_per_minute)"
            if code is not None:
                self.denied.append(
                    DeniedOrder(
                        world_id=world, symbol=order.symbol, venue=order.venue, quantity=qty,
                        code=code, detail=detail, strategy_id=order.strategy_id,
                    )
                )
                continue
            if self.track_gross and price is not None:
                gross += growth * price
            position[key] = held + qty
            self.passed_total += 1
            passed.append(order)
        if self.track_gross:
            self.gross[world] = gross
        return passed


def preview_etag(outcome: RiskOutcome) -> str:
    """The etag of a preview: a digest of its passed orders, its denials and the states
    they were checked against."""
    encoded = msgspec.msgpack.encode((outcome.batches, outcome.denied, outcome.checked))
    return hashlib.sha256(encoded).hexdigest()[:32]
