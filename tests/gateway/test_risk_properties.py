"""Properties of the pre-trade risk checks over generated orders, states and limits."""

from __future__ import annotations

from collections import Counter
from typing import Any

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from app.contracts.orders import Order
from app.contracts.risk import TRADING_STATES, RiskStates, default_state
from app.gateway.constraints import RuleBook
from app.gateway.orders import Holding, OrderBatch, convert_plan
from app.gateway.risk import RiskBasis, RiskLimits, RiskOutcome, check_orders
from app.settings import RiskSettings
from tests.gateway.factories import plan_v1, pos, request_of

WORLDS = ("a", "b", "c")
SYMBOLS = ("X", "Y", "Z")
PRICE = {"X": 1.0, "Y": 7.5, "Z": 120.0}

quantity = st.floats(min_value=-50, max_value=50, allow_nan=False).filter(lambda q: q != 0.0)
held = st.one_of(st.just(0.0), st.floats(min_value=-40, max_value=40, allow_nan=False))
state = st.sampled_from(TRADING_STATES)
maybe = st.none() | st.floats(min_value=0, max_value=3000, allow_nan=False)


@st.composite
def bases(draw: Any) -> RiskBasis:
    holdings = [
        Holding(world_id=w, venue=None, symbol=s, qty=draw(held), price=PRICE[s])
        for w in WORLDS
        for s in SYMBOLS
    ]
    batches = []
    for world in draw(st.lists(st.sampled_from(WORLDS), unique=True)):
        orders = [
            Order(symbol=s, quantity=q, side="buy" if q > 0 else "sell", time_in_force="GTC")
            for s, q in draw(st.lists(st.tuples(st.sampled_from(SYMBOLS), quantity), max_size=8))
        ]
        batches.append(OrderBatch(world_id=world, scope="per_world", orders=orders))
    return RiskBasis(scope="per_world", batches=batches, holdings=holdings, worlds=list(WORLDS))


@st.composite
def snapshots(draw: Any) -> RiskStates:
    return RiskStates(
        global_state=msgspec.structs.replace(default_state("global"), state=draw(state)),
        worlds={
            w: msgspec.structs.replace(default_state("world", w), state=draw(state))
            for w in WORLDS
        },
    )


@st.composite
def limit_sets(draw: Any) -> RiskLimits:
    spec = {
        "max_order_notional": draw(maybe),
        "max_world_gross_notional": draw(maybe),
        "max_orders_per_execution": draw(st.none() | st.integers(0, 12)),
        "restricted": {
            "do_not_buy": draw(st.lists(st.sampled_from(SYMBOLS), max_size=2)),
            "do_not_sell": draw(st.lists(st.sampled_from(SYMBOLS), max_size=2)),
            "by_world": {
                w: {"do_not_buy": draw(st.lists(st.sampled_from(SYMBOLS), max_size=1))}
                for w in draw(st.lists(st.sampled_from(WORLDS), unique=True, max_size=2))
            },
        },
    }
    return RiskLimits.of(msgspec.convert(spec, RiskSettings))


budgets = st.none() | st.fixed_dictionaries({w: st.integers(0, 5) for w in WORLDS})


def _replay(basis: RiskBasis, outcome: RiskOutcome) -> list[tuple[str, Order, float, float]]:
    """Each passed order with the position before and after it (running over passed)."""
    position = {(h.world_id, h.symbol): h.qty for h in basis.holdings}
    out = []
    for batch in outcome.batches:
        for o in batch.orders:
            before = position[(batch.world_id, o.symbol)]
            position[(batch.world_id, o.symbol)] = before + o.quantity
            out.append((batch.world_id, o, before, before + o.quantity))
    return out


def _no_growth(before: float, after: float) -> bool:
    """|position| did not grow, and it did not cross zero (beyond a close's float noise)."""
    crossed = before > 0 > after or before < 0 < after
    return abs(after) <= abs(before) and (not crossed or abs(after) <= 1e-9 * abs(before))


def _effective(states: RiskStates, world: str) -> str:
    ranks = {s: i for i, s in enumerate(TRADING_STATES)}
    return max(states.global_state.state, states.of(world).state, key=ranks.__getitem__)


@given(basis=bases(), states=snapshots(), limits=limit_sets(), budget=budgets)
def test_reducing_never_grows_halted_never_passes(
    basis: RiskBasis, states: RiskStates, limits: RiskLimits, budget: dict[str, int] | None
) -> None:
    outcome = check_orders(basis, states, limits, budget)
    for world, _, before, after in _replay(basis, outcome):
        effective = _effective(states, world)
        assert effective != "HALTED"
        if effective == "REDUCING":
            assert _no_growth(before, after)


@given(basis=bases(), states=snapshots(), limits=limit_sets(), budget=budgets)
def test_passed_orders_never_exceed_a_limit(
    basis: RiskBasis, states: RiskStates, limits: RiskLimits, budget: dict[str, int] | None
) -> None:
    outcome = check_orders(basis, states, limits, budget)
    passed = _replay(basis, outcome)
    if limits.max_orders_per_execution is not None:
        assert len(passed) <= limits.max_orders_per_execution
    per_world = Counter(world for world, *_ in passed)
    if budget is not None:
        assert all(per_world[w] <= budget[w] for w in per_world)
    gross = {w: 0.0 for w in WORLDS}
    for h in basis.holdings:
        gross[h.world_id] += abs(h.qty) * PRICE[h.symbol]
    for world, order, before, after in passed:
        notional = abs(order.quantity) * PRICE[order.symbol]
        if limits.max_order_notional is not None:
            assert notional <= limits.max_order_notional
        change = (abs(after) - abs(before)) * PRICE[order.symbol]
        gross[world] += change
        if limits.max_world_gross_notional is not None and change > 0:
            assert gross[world] <= limits.max_world_gross_notional * (1 + 1e-9) + 1e-9
        buy, sell = limits.restricted_for([world])
        assert not (order.quantity > 0 and order.symbol in buy)
        assert not (order.quantity < 0 and order.symbol in sell)


@given(basis=bases(), states=snapshots(), limits=limit_sets(), budget=budgets)
def test_denied_plus_passed_are_the_converted_orders(
    basis: RiskBasis, states: RiskStates, limits: RiskLimits, budget: dict[str, int] | None
) -> None:
    outcome = check_orders(basis, states, limits, budget)
    given_orders = Counter(
        (b.world_id, o.symbol, o.venue, o.quantity, o.strategy_id)
        for b in basis.batches
        for o in b.orders
    )
    passed = Counter(
        (b.world_id, o.symbol, o.venue, o.quantity, o.strategy_id)
        for b in outcome.batches
        for o in b.orders
    )
    denied = Counter((d.world_id, d.symbol, d.venue, d.quantity, d.strategy_id)
                     for d in outcome.denied)
    assert passed + denied == given_orders
    expected = "completed" if not denied else ("rejected" if not passed else "completed_adjusted")
    assert outcome.status == expected
    # Within a batch the passed orders keep their order.
    for batch in outcome.batches:
        source = next(b for b in basis.batches if b.world_id == batch.world_id).orders
        it = iter(source)
        assert all(any(o == s for s in it) for o in batch.orders)


@given(
    start=st.floats(min_value=-100, max_value=100, allow_nan=False)
    | st.sampled_from([1.9999999999999858, -0.30000000000000004, 2.0000000000000004]),
    delta=st.floats(min_value=-300, max_value=300, allow_nan=False),
    lot=st.sampled_from([None, 0.5, 1.0]),
)
def test_converted_flips_in_a_reducing_world_pass_only_their_closing_leg(
    start: float, delta: float, lot: float | None
) -> None:
    request = request_of(
        [pos("a", "s1", "X", start)], lot_size_by_symbol={"X": lot} if lot else None
    )
    conversion = convert_plan(request, plan_v1({"a": [("X", delta, None)]}), RuleBook([], []))
    basis = RiskBasis(
        scope="per_world", batches=conversion.batches, holdings=conversion.holdings,
        worlds=["a"],
    )
    reducing = RiskStates(
        global_state=default_state("global"),
        worlds={"a": msgspec.structs.replace(default_state("world", "a"), state="REDUCING")},
    )
    outcome = check_orders(basis, reducing, RiskLimits())
    for _, order, before, after in _replay(basis, outcome):
        assert _no_growth(before, after)
        assert order.reduce_only is True  # exactly the reduce-only orders pass
    converted = [o for b in conversion.batches for o in b.orders]
    assert [o for b in outcome.batches for o in b.orders] == [
        o for o in converted if o.reduce_only
    ]
