"""The pure pre-trade risk checks, case by case (``app.gateway.risk``)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from app.contracts.orders import Order
from app.contracts.risk import RiskStates, TradingState, default_state
from app.gateway.constraints import RuleBook
from app.gateway.orders import GLOBAL_BATCH, Holding, OrderBatch, convert_plan
from app.gateway.risk import RiskBasis, RiskLimits, check_orders, preview_etag
from app.settings import RiskSettings
from tests.gateway.factories import plan_v1, pos, request_of


def order(symbol: str, qty: float, venue: str | None = None, **kw: Any) -> Order:
    return Order(
        symbol=symbol, quantity=qty, side="buy" if qty > 0 else "sell", time_in_force="GTC",
        venue=venue, **kw,
    )


def basis(
    batches: dict[str, list[Order]],
    holdings: list[tuple[str, str, float, float]] | None = None,
    worlds: list[str] | None = None,
    scope: Any = "per_world",
) -> RiskBasis:
    return RiskBasis(
        scope=scope,
        batches=[OrderBatch(world_id=w, scope=scope, orders=o) for w, o in batches.items()],
        holdings=[
            Holding(world_id=w, venue=None, symbol=s, qty=q, price=p)
            for w, s, q, p in holdings or []
        ],
        worlds=worlds if worlds is not None else [w for w in batches if w != GLOBAL_BATCH],
    )


def states(glob: TradingState = "ACTIVE", **worlds: TradingState) -> RiskStates:
    from msgspec.structs import replace

    return RiskStates(
        global_state=replace(default_state("global"), state=glob),
        worlds={w: replace(default_state("world", w), state=s) for w, s in worlds.items()},
    )


def limits(**kw: Any) -> RiskLimits:
    return RiskLimits.of(msgspec.convert(kw, RiskSettings))


def codes(outcome: Any) -> list[tuple[str, float, str]]:
    return [(d.symbol, d.quantity, d.code) for d in outcome.denied]


def passed(outcome: Any) -> dict[str, list[tuple[str, float]]]:
    return {b.world_id: [(o.symbol, o.quantity) for o in b.orders] for b in outcome.batches}


def test_active_and_no_limits_pass_everything() -> None:
    b = basis({"a": [order("X", 5.0), order("Y", -2.0)]}, [("a", "X", 10.0, 1.0)])
    outcome = check_orders(b, states(), limits())
    assert outcome.status == "completed" and outcome.denied == []
    assert passed(outcome) == {"a": [("X", 5.0), ("Y", -2.0)]}
    assert outcome.counts() == {"a": 2}


def test_global_halt_denies_all_and_names_it() -> None:
    b = basis({"a": [order("X", -1.0)], "b": [order("Y", 1.0)]})
    outcome = check_orders(b, states("HALTED", a="REDUCING"), limits())
    assert outcome.status == "rejected" and outcome.batches == []
    assert {d.code for d in outcome.denied} == {"GLOBAL_HALTED"}


def test_world_halt_denies_only_that_world() -> None:
    b = basis({"a": [order("X", -1.0)], "b": [order("Y", 1.0)]})
    outcome = check_orders(b, states(a="HALTED"), limits())
    assert outcome.status == "completed_adjusted"
    assert codes(outcome) == [("X", -1.0, "WORLD_HALTED")]
    assert passed(outcome) == {"b": [("Y", 1.0)]}


@pytest.mark.parametrize(
    ("held", "qty", "passes"),
    [
        (10.0, -4.0, True),  # sell part of a long
        (10.0, -10.0, True),  # close a long
        (-10.0, 4.0, True),  # buy back part of a short (sign-aware)
        (10.0, 4.0, False),  # grow a long
        (-10.0, -1.0, False),  # grow a short
        (0.0, 1.0, False),  # open from flat
        (10.0, -15.0, False),  # a direct flip: opens a short
        (1.9999999999999858, -2.0, True),  # a close of a position summed with float noise
        (10.0, -10.000001, False),  # ...but not a real overshoot
    ],
)
def test_reducing_only_shrinks_position(held: float, qty: float, passes: bool) -> None:
    b = basis({"a": [order("X", qty)]}, [("a", "X", held, 2.0)])
    for st in (states(a="REDUCING"), states("REDUCING")):
        outcome = check_orders(b, st, limits())
        assert (outcome.status == "completed") is passes
        if not passes:
            assert codes(outcome) == [("X", qty, "REDUCING_ONLY")]


def test_reducing_passes_the_closing_leg_of_a_flip_and_denies_the_opening_leg() -> None:
    # Converted with flatten_then_open: +10 X going to -5 X is a close of -10 then -5.
    request = request_of([pos("a", "s1", "X", 10.0)])
    conversion = convert_plan(request, plan_v1({"a": [("X", -15.0, None)]}), RuleBook([], []))
    legs = [(o.quantity, o.reduce_only) for o in conversion.batches[0].orders]
    assert legs == [(-10.0, True), (-5.0, None)]
    b = RiskBasis(
        scope="per_world", batches=conversion.batches, holdings=conversion.holdings,
        worlds=["a"],
    )
    outcome = check_orders(b, states(a="REDUCING"), limits())
    assert passed(outcome) == {"a": [("X", -10.0)]}
    assert codes(outcome) == [("X", -5.0, "REDUCING_ONLY")]
    assert outcome.status == "completed_adjusted"


def test_restricted_lists_global_and_per_world() -> None:
    lim = limits(
        restricted={"do_not_buy": ["X"], "by_world": {"b": {"do_not_sell": ["Y"]}}}
    )
    b = basis(
        {
            "a": [order("X", 1.0), order("X", -1.0), order("Y", -1.0)],
            "b": [order("X", 2.0), order("Y", -2.0), order("Y", 2.0)],
        },
        [("a", "X", 5.0, 1.0), ("b", "Y", 5.0, 1.0)],
    )
    outcome = check_orders(b, states(), lim)
    assert codes(outcome) == [
        ("X", 1.0, "RESTRICTED_BUY"),
        ("X", 2.0, "RESTRICTED_BUY"),
        ("Y", -2.0, "RESTRICTED_SELL"),
    ]
    assert passed(outcome) == {"a": [("X", -1.0), ("Y", -1.0)], "b": [("Y", 2.0)]}


def test_max_order_notional_uses_the_order_price_else_the_mark() -> None:
    b = basis(
        {"a": [order("X", 10.0), order("X", 11.0), order("X", 50.0, price=1.0)]},
        [("a", "X", 0.0, 10.0)],
    )
    outcome = check_orders(b, states(), limits(max_order_notional=100.0))
    assert codes(outcome) == [("X", 11.0, "MAX_ORDER_NOTIONAL")]
    assert "110" in outcome.denied[0].detail


def test_unpriced_order_is_denied_when_a_notional_limit_is_set() -> None:
    b = RiskBasis(
        scope="per_world",
        batches=[OrderBatch(world_id="a", scope="per_world", orders=[order("Z", 1.0)])],
        holdings=[Holding(world_id="a", venue=None, symbol="Z", qty=0.0, price=None)],
        worlds=["a"],
    )
    assert check_orders(b, states(), limits()).status == "completed"
    assert codes(check_orders(b, states(), limits(max_order_notional=1e9))) == [
        ("Z", 1.0, "MAX_ORDER_NOTIONAL")
    ]


def test_world_gross_is_post_trade_and_never_refuses_an_unwind() -> None:
    # World a: X 100 @ 1 and Y -50 @ 2 -> gross 200; the limit is 250.
    held = [("a", "X", 100.0, 1.0), ("a", "Y", -50.0, 2.0)]
    b = basis(
        {"a": [order("X", 40.0), order("X", 20.0), order("Y", 10.0), order("X", 5.0)]}, held
    )
    outcome = check_orders(b, states(), limits(max_world_gross_notional=250.0))
    # +40 -> 240 passes; +20 -> 260 denied; Y buys back 10 -> 220; +5 -> 225 passes.
    assert codes(outcome) == [("X", 20.0, "MAX_WORLD_GROSS")]
    # Already above the limit: an unwind passes, growth does not.
    over = check_orders(
        basis({"a": [order("X", -10.0), order("X", 1.0)]}, held),
        states(),
        limits(max_world_gross_notional=100.0),
    )
    assert passed(over) == {"a": [("X", -10.0)]}
    assert codes(over) == [("X", 1.0, "MAX_WORLD_GROSS")]


def test_max_orders_counts_the_whole_execution() -> None:
    b = basis({"a": [order("X", 1.0), order("Y", 1.0)], "b": [order("Z", 1.0)]})
    outcome = check_orders(b, states(), limits(max_orders_per_execution=2))
    assert codes(outcome) == [("Z", 1.0, "MAX_ORDERS")]
    assert check_orders(b, states(), limits(max_orders_per_execution=0)).status == "rejected"


def test_rate_budget_per_world() -> None:
    b = basis({"a": [order("X", 1.0), order("Y", 1.0)], "b": [order("Z", 1.0)]})
    assert check_orders(b, states(), limits()).counts() == {"a": 2, "b": 1}
    outcome = check_orders(b, states(), limits(), {"a": 1, "b": 5})
    assert codes(outcome) == [("Y", 1.0, "RATE_LIMITED")]
    assert outcome.counts() == {"a": 1, "b": 1}
    assert check_orders(b, states(), limits(), {}).status == "rejected"  # no bucket, no token


def test_first_failing_check_names_the_denial() -> None:
    lim = limits(restricted={"do_not_buy": ["X"]}, max_order_notional=0.0)
    b = basis({"a": [order("X", 1.0)]}, [("a", "X", 0.0, 1.0)])
    assert codes(check_orders(b, states(a="REDUCING"), lim))[0][2] == "REDUCING_ONLY"
    assert codes(check_orders(b, states(), lim))[0][2] == "RESTRICTED_BUY"


def test_shared_account_batch_is_judged_under_every_touched_world() -> None:
    b = basis(
        {GLOBAL_BATCH: [order("X", -1.0)]},
        [(GLOBAL_BATCH, "X", 5.0, 1.0)],
        worlds=["a", "b"],
        scope="global",
    )
    assert check_orders(b, states(), limits()).status == "completed"
    halted = check_orders(b, states(b="HALTED"), limits())
    assert codes(halted) == [("X", -1.0, "WORLD_HALTED")] and "'b'" in halted.denied[0].detail
    assert check_orders(b, states(a="REDUCING"), limits()).status == "completed"  # a sell
    lim = limits(restricted={"by_world": {"b": {"do_not_sell": ["X"]}}})
    assert codes(check_orders(b, states(), lim)) == [("X", -1.0, "RESTRICTED_SELL")]


def test_checked_states_and_etag_follow_the_states() -> None:
    b = basis({"a": [order("X", -1.0)]}, [("a", "X", 5.0, 1.0)], worlds=["a", "c"])
    active = check_orders(b, states(), limits())
    assert sorted(active.checked.worlds) == ["a", "c"]
    reducing = check_orders(b, states(c="REDUCING"), limits())
    assert passed(active) == passed(reducing)  # the same orders...
    assert preview_etag(active) != preview_etag(reducing)  # ...checked against other states
    assert preview_etag(active) == preview_etag(check_orders(b, states(), limits()))


def test_no_orders_is_completed() -> None:
    outcome = check_orders(basis({}), states("HALTED"), limits())
    assert outcome.status == "completed" and outcome.batches == [] and outcome.denied == []
