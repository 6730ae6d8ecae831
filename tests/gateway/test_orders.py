"""Order conversion (pure): reduce-only by sign, flips, constraints, scopes, overlay."""

from __future__ import annotations

import pytest

from app.contracts.lots import round_to_lot, round_to_tick
from app.contracts.rebalancing import OverlayConfig
from app.errors import AppError
from app.gateway.constraints import RuleBook
from app.gateway.orders import GLOBAL_BATCH, Conversion, convert_plan
from app.settings import InstrumentConstraint, VenuePolicy
from tests.gateway.factories import plan_v1, pos, request_of

NO_RULES = RuleBook([], [])


def orders_of(conv: Conversion, world: str) -> list[tuple[float, bool | None]]:
    for batch in conv.batches:
        if batch.world_id == world:
            return [(o.quantity, o.reduce_only) for o in batch.orders]
    return []


@pytest.mark.parametrize(
    ("current", "delta", "expected"),
    [
        (-10.0, 4.0, [(4.0, True)]),  # a buy that shrinks a short is reduce-only
        (10.0, -4.0, [(-4.0, True)]),  # a sell that shrinks a long
        (10.0, 4.0, [(4.0, None)]),  # growing a long
        (-10.0, -4.0, [(-4.0, None)]),  # growing a short
        (0.0, 3.0, [(3.0, None)]),  # opening
        (10.0, -10.0, [(-10.0, True)]),  # closing exactly
        (5.0, -8.0, [(-5.0, True), (-3.0, None)]),  # long -> short flip
        (-5.0, 8.0, [(5.0, True), (3.0, None)]),  # short -> long flip
    ],
)
def test_reduce_only_follows_the_sign_of_the_current_position(
    current: float, delta: float, expected: list[tuple[float, bool | None]]
) -> None:
    req = request_of([pos("a", "s", "X", current)] if current else [pos("a", "s", "Y", 1.0)])
    conv = convert_plan(req, plan_v1({"a": [("X", delta, None)]}), NO_RULES)
    assert orders_of(conv, "a") == expected
    sides = [o.side for o in conv.batches[0].orders]
    assert sides == ["buy" if q > 0 else "sell" for q, _ in expected]


def test_direct_flip_is_one_order_without_reduce_only() -> None:
    req = request_of([pos("a", "s", "X", 5.0)])
    conv = convert_plan(req, plan_v1({"a": [("X", -8.0, None)]}), NO_RULES, flip_policy="direct")
    assert orders_of(conv, "a") == [(-8.0, None)]


def test_flip_close_part_is_rounded_to_the_lot() -> None:
    rules = RuleBook([InstrumentConstraint(symbol="X", lot_size=0.1)], [])
    req = request_of([pos("a", "s", "X", 5.05)])
    conv = convert_plan(req, plan_v1({"a": [("X", -8.0, None)]}), rules)
    assert orders_of(conv, "a") == [(-5.0, True), (-3.0, None)]


def test_flip_falls_back_to_one_order_when_a_part_is_below_min_notional() -> None:
    rules = RuleBook([InstrumentConstraint(symbol="X", min_notional=25.0)], [])
    req = request_of([pos("a", "s", "X", 2.0, mark=10.0)])  # close part: 20 < 25
    conv = convert_plan(req, plan_v1({"a": [("X", -8.0, None)]}), rules)
    assert orders_of(conv, "a") == [(-8.0, None)]


def test_constraint_drops_are_reported_with_reasons() -> None:
    rules = RuleBook(
        [
            InstrumentConstraint(symbol="LOT", lot_size=1.0),
            InstrumentConstraint(symbol="MIN", min_notional=100.0),
            InstrumentConstraint(symbol="TICK", tick_size=0.01),
            InstrumentConstraint(symbol="OK", lot_size=0.5, min_notional=10.0),
        ],
        [],
    )
    req = request_of(
        [
            pos("a", "s", "LOT", 3.0),
            pos("a", "s", "MIN", 3.0, mark=50.0),
            pos("a", "s", "TICK", 3.0, mark=0.004),
            pos("a", "s", "OK", 3.0, mark=10.0),
        ]
    )
    plan = plan_v1(
        {"a": [("LOT", 0.4, None), ("MIN", 1.0, None), ("TICK", 1.0, None), ("OK", 1.3, None)]}
    )
    conv = convert_plan(req, plan, rules)
    assert {(d.symbol, d.reason) for d in conv.dropped} == {
        ("LOT", "lot_size"),
        ("MIN", "min_notional"),
        ("TICK", "tick_size"),
    }
    assert orders_of(conv, "a") == [(1.0, None)]  # 1.3 rounded down to lots of 0.5


def test_request_min_trade_notional_drops_dust() -> None:
    req = request_of([pos("a", "s", "X", 3.0, mark=10.0)], min_trade_notional=50.0)
    conv = convert_plan(req, plan_v1({"a": [("X", 2.0, None)]}), NO_RULES)
    assert [d.reason for d in conv.dropped] == ["min_trade_notional"]
    assert conv.batches == []


def test_tick_size_rounds_the_reference_price() -> None:
    rules = RuleBook([InstrumentConstraint(symbol="X", tick_size=0.05)], [])
    req = request_of([pos("a", "s", "X", 3.0, mark=100.037)])
    conv = convert_plan(req, plan_v1({"a": [("X", 1.0, None)]}), rules)
    assert conv.batches[0].orders[0].price == 100.05


def test_canonical_symbol_and_aliases_net_into_one_order() -> None:
    rules = RuleBook(
        [
            InstrumentConstraint(
                venue="binance", symbol="BTCUSDT", canonical_symbol="BTC/USDT", aliases=["XBT"]
            )
        ],
        [],
    )
    req = request_of(
        [pos("a", "s", "BTCUSDT", 1.0, venue="binance"), pos("a", "t", "XBT", 1.0, venue="binance")]
    )
    plan = plan_v1({"a": [("BTCUSDT", 1.0, "binance"), ("XBT", 0.5, "binance")]})
    conv = convert_plan(req, plan, rules)
    (order,) = conv.batches[0].orders
    assert (order.symbol, order.quantity, order.venue) == ("BTC/USDT", 1.5, "binance")


def test_venue_policy_flags() -> None:
    rules = RuleBook(
        [],
        [
            VenuePolicy(venue="ioc", reduce_only_requires_ioc=True, default_time_in_force="DAY"),
            VenuePolicy(venue="plain", supports_reduce_only=False),
        ],
    )
    req = request_of(
        [pos("a", "s", "X", 10.0, venue="ioc"), pos("a", "s", "X", 10.0, venue="plain")]
    )
    plan = plan_v1({"a": [("X", -4.0, "ioc"), ("X", 2.0, "ioc"), ("X", -4.0, "plain")]})
    conv = convert_plan(req, plan, rules)
    got = [(o.venue, o.time_in_force, o.reduce_only) for o in conv.batches[0].orders]
    # Both "ioc" deltas net to -2 (a reduce): IOC; "plain" has no reduce_only flag at all.
    assert got == [("ioc", "IOC", True), ("plain", "GTC", None)]


def test_per_strategy_uses_own_deltas_and_keeps_ids_when_one_is_dropped() -> None:
    rules = RuleBook([InstrumentConstraint(symbol="X", lot_size=1.0)], [])
    req = request_of(
        [
            pos("a", "s1", "X", 1.0),  # 1 × (1.5 − 1) = 0.5 → below one lot, dropped
            pos("a", "s2", "X", 10.0),  # 10 × (0.5 − 1) = −5
            pos("a", "s3", "X", -4.0),  # −4 × (1.5 − 1) = −2 (grows the short)
        ]
    )
    plan = plan_v1({"a": []}, scales={"a": {"s1": 1.5, "s2": 0.5, "s3": 1.5}})
    conv = convert_plan(req, plan, rules, scope="per_strategy")
    orders = [(o.strategy_id, o.quantity, o.reduce_only) for o in conv.batches[0].orders]
    assert orders == [("s2", -5.0, True), ("s3", -2.0, None)]
    assert [(d.strategy_id, d.reason) for d in conv.dropped] == [("s1", "lot_size")]


def test_global_scope_nets_current_positions_across_worlds() -> None:
    req = request_of([pos("a", "s", "X", 6.0), pos("b", "s", "X", -2.0)])
    plan = plan_v1({}, global_deltas=[("X", -3.0, None)])
    conv = convert_plan(req, plan, NO_RULES, scope="global")
    assert orders_of(conv, GLOBAL_BATCH) == [(-3.0, True)]  # net long 4: a sale of 3 reduces
    assert conv.gross_notional == pytest.approx(30.0)
    assert conv.net_notional == pytest.approx(-30.0)


def test_overlay_deltas_are_mapped_back_to_their_world() -> None:
    overlay = OverlayConfig(
        instrument_by_world={"a": "ES", "b": "NQ"}, price_by_symbol={"ES": 50.0}
    )
    req = request_of(
        [pos("a", "s", "X", 1.0), pos("b", "s", "Y", 1.0)], mode="overlay", overlay=overlay
    )
    conv = convert_plan(req, plan_v1({"a": [], "b": []}, overlay=[("ES", -2.0)]), NO_RULES)
    assert orders_of(conv, "a") == [(-2.0, None)]
    assert orders_of(conv, "b") == []


def test_overlay_symbol_of_two_worlds_is_ambiguous() -> None:
    overlay = OverlayConfig(
        instrument_by_world={"a": "ES", "b": "ES"}, price_by_symbol={"ES": 50.0}
    )
    req = request_of(
        [pos("a", "s", "X", 1.0), pos("b", "s", "Y", 1.0)], mode="overlay", overlay=overlay
    )
    with pytest.raises(AppError) as caught:
        convert_plan(req, plan_v1({"a": [], "b": []}, overlay=[("ES", -2.0)]), NO_RULES)
    assert (caught.value.status, caught.value.code) == (422, "E_OVERLAY_EXECUTION_AMBIGUOUS")


@pytest.mark.parametrize(
    ("qty", "lot", "expected"),
    [
        (0.30000000000000004, 0.1, 0.3),
        (0.29999999999, 0.1, 0.3),
        (-0.35, 0.1, -0.3),
        (0.05, 0.1, 0.0),
    ],
)
def test_round_to_lot_has_no_float_residue(qty: float, lot: float, expected: float) -> None:
    assert round_to_lot(qty, lot) == expected


def test_round_to_tick() -> None:
    assert round_to_tick(1.234, 0.01) == 1.23
    assert round_to_tick(1.234, None) == 1.234


def test_per_strategy_splits_an_unexplained_world_delta_by_notional() -> None:
    req = request_of(
        [pos("a", "s1", "X", 1.0, mark=10.0), pos("a", "s2", "X", 3.0, mark=10.0)],
        strategy_alloc_after_total={"a": {"s1": 1.0}},  # notional wins over allocations
    )
    plan = plan_v1({"a": [("X", 8.0, None)]})  # scale_world 1, no scales: nothing explained
    conv = convert_plan(req, plan, NO_RULES, scope="per_strategy")
    got = [(o.strategy_id, o.quantity) for o in conv.batches[0].orders]
    assert got == [("s1", 2.0), ("s2", 6.0)]
    assert conv.dropped == []


def test_per_strategy_explained_world_deltas_are_not_split_again() -> None:
    req = request_of([pos("a", "s1", "X", 10.0), pos("a", "s2", "X", 10.0)])
    plan = plan_v1({"a": [("X", -5.0, None)]}, scales={"a": {"s1": 0.5, "s2": 1.0}})
    conv = convert_plan(req, plan, NO_RULES, scope="per_strategy")
    assert [(o.strategy_id, o.quantity) for o in conv.batches[0].orders] == [("s1", -5.0)]


def test_per_strategy_delta_without_any_strategy_is_dropped_with_a_reason() -> None:
    req = request_of([pos("a", "s1", "X", 1.0)], strategy_alloc_after_total={"b": {"s": 0.0}})
    plan = plan_v1({"b": [("Y", 2.0, "v")]})
    conv = convert_plan(req, plan, NO_RULES, scope="per_strategy")
    assert conv.batches == []
    (dropped,) = conv.dropped
    assert (dropped.world_id, dropped.symbol, dropped.venue, dropped.reason) == (
        "b", "Y", "v", "no_strategy"
    )
    assert dropped.quantity == 2.0


def test_a_world_named_global_keeps_its_own_marks() -> None:
    rules = RuleBook([InstrumentConstraint(symbol="X", tick_size=0.01)], [])
    req = request_of([pos("global", "s", "X", 1.0, mark=10.0), pos("b", "s", "X", 1.0, mark=30.0)])
    conv = convert_plan(req, plan_v1({"global": [("X", 1.0, None)]}), rules)
    (order,) = conv.batches[0].orders
    assert (conv.batches[0].world_id, order.price) == ("global", 10.0)  # not the account's 20
