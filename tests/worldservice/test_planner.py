"""Table-driven tests of the planning math (SPEC §3)."""

from __future__ import annotations

import gc
from typing import Any

import pytest

from app.contracts.lots import round_to_lot
from app.contracts.rebalancing import OverlayConfig, SymbolDelta
from app.worldservice.planner import (
    PlanOverflowError,
    PlanParts,
    compute_plan,
    world_scale,
)
from tests.worldservice.plan_builders import pos, request


def deltas(parts: PlanParts, world: str) -> list[tuple[str, float, str | None]]:
    return [(d.symbol, d.delta_qty, d.venue) for d in parts.per_world[world].deltas]


def flat(items: list[SymbolDelta] | None) -> list[tuple[str, float, str | None]]:
    return [(d.symbol, d.delta_qty, d.venue) for d in items or []]


def test_spec_example_explicit_strategy_totals_and_lot() -> None:
    # World 0.3 → 0.2, strategy 0.1 → 0.2/3, one BTC at 60000, lot 0.001 → −0.333.
    parts = compute_plan(
        request(
            world_alloc_before={"a": 0.3},
            world_alloc_after={"a": 0.2},
            positions=[pos("a", "s", "BTC", 1.0, 60_000.0)],
            strategy_alloc_before_total={"a": {"s": 0.1}},
            strategy_alloc_after_total={"a": {"s": 0.2 / 3}},
            lot_size_by_symbol={"BTC": 0.001},
        )
    )
    assert deltas(parts, "a") == [("BTC", -0.333, None)]
    assert flat(parts.global_deltas) == [("BTC", -0.333, None)]
    assert repr(parts.global_deltas[0].delta_qty) == "-0.333"
    assert parts.per_world["a"].scale_world == pytest.approx(2 / 3)
    assert parts.per_world["a"].scale_by_strategy == {"s": pytest.approx(2 / 3)}
    assert parts.overlay_deltas is None


def test_quantity_weighted_mark() -> None:
    # 10 @ 100 and 1 @ 200 in one world, halved: −600 notional at mark 1200/11 → −5.5 units.
    parts = compute_plan(
        request(
            world_alloc_before={"w": 0.4},
            world_alloc_after={"w": 0.2},
            positions=[pos("w", "s", "X", 10.0, 100.0), pos("w", "t", "X", 1.0, 200.0)],
        )
    )
    assert deltas(parts, "w") == [("X", pytest.approx(-5.5), None)]
    assert parts.per_world["w"].scale_by_strategy == {"s": 0.5, "t": 0.5}


CASES: list[tuple[str, dict[str, Any], dict[str, list[tuple[str, float, str | None]]]]] = [
    (
        "cascade keeps proportions",
        {"world_alloc_before": {"w": 0.5}, "world_alloc_after": {"w": 0.25},
         "positions": [pos("w", "s", "A", 8.0, 10.0), pos("w", "t", "B", -4.0, 5.0)]},
        {"w": [("A", -4.0, None), ("B", 2.0, None)]},
    ),
    (
        "new world (before 0) keeps its positions",
        {"world_alloc_before": {"w": 0.0}, "world_alloc_after": {"w": 0.3},
         "positions": [pos("w", "s", "A", 8.0, 10.0)]},
        {"w": []},
    ),
    (
        "world 0 → 0 liquidates",
        {"world_alloc_before": {"w": 0.0}, "world_alloc_after": {"w": 0.0},
         "positions": [pos("w", "s", "A", 8.0, 10.0)]},
        {"w": [("A", -8.0, None)]},
    ),
    (
        "strategy absent from the after map uses the world scale",
        {"world_alloc_before": {"w": 0.5}, "world_alloc_after": {"w": 1.0},
         "strategy_alloc_after_total": {"w": {"s": 0.0}},
         "positions": [pos("w", "s", "A", 1.0, 10.0), pos("w", "t", "B", 1.0, 10.0)]},
        {"w": [("A", -1.0, None), ("B", 1.0, None)]},
    ),
    (
        "strategy with before 0 in the explicit map falls back to the world scale",
        {"world_alloc_before": {"w": 0.5}, "world_alloc_after": {"w": 0.25},
         "strategy_alloc_before_total": {"w": {"s": 0.0}},
         "strategy_alloc_after_total": {"w": {"s": 0.9}},
         "positions": [pos("w", "s", "A", 4.0, 10.0)]},
        {"w": [("A", -2.0, None)]},
    ),
    (
        "total equity 0 measures strategies against the world's gross notional",
        {"total_equity": 0.0, "world_alloc_before": {"w": 0.5}, "world_alloc_after": {"w": 0.5},
         "strategy_alloc_after_total": {"w": {"s": 0.3}},
         "positions": [pos("w", "s", "A", 6.0, 100.0), pos("w", "t", "B", -4.0, 100.0)]},
        {"w": [("A", -3.0, None)]},
    ),
    (
        "computed before from equity",
        {"total_equity": 1000.0, "strategy_alloc_after_total": {"w": {"s": 0.4}},
         "positions": [pos("w", "s", "A", 2.0, 100.0)]},
        {"w": [("A", 2.0, None)]},
    ),
    (
        "venues net separately, no venue sorts first",
        {"world_alloc_before": {"w": 0.5}, "world_alloc_after": {"w": 0.25},
         "positions": [pos("w", "s", "A", 4.0, 10.0, "y"), pos("w", "s", "A", 2.0, 10.0, "x"),
                       pos("w", "t", "A", 2.0, 10.0)]},
        {"w": [("A", -1.0, None), ("A", -1.0, "x"), ("A", -2.0, "y")]},
    ),
    (
        "opposite strategies net to nothing",
        {"world_alloc_before": {"w": 0.5}, "world_alloc_after": {"w": 0.25},
         "positions": [pos("w", "s", "A", 4.0, 10.0), pos("w", "t", "A", -4.0, 10.0)]},
        {"w": []},
    ),
    (
        "dust below min_trade_notional is dropped",
        {"world_alloc_before": {"w": 0.5}, "world_alloc_after": {"w": 0.45},
         "min_trade_notional": 50.0,
         "positions": [pos("w", "s", "A", 4.0, 100.0), pos("w", "s", "B", 100.0, 100.0)]},
        {"w": [("B", pytest.approx(-10.0), None)]},
    ),
    (
        "lot rounding toward zero and to nothing",
        {"world_alloc_before": {"w": 0.5}, "world_alloc_after": {"w": 0.25},
         "lot_size_by_symbol": {"A": 0.1, "B": 1.0},
         "positions": [pos("w", "s", "A", 1.27, 10.0), pos("w", "s", "B", 1.0, 10.0)]},
        {"w": [("A", -0.6, None)]},  # −0.635 → −0.6; B −0.5 → 0 lots
    ),
]


@pytest.mark.parametrize(("name", "fields", "expected"), CASES, ids=[c[0] for c in CASES])
def test_scaling_cases(
    name: str, fields: dict[str, Any], expected: dict[str, list[tuple[str, float, str | None]]]
) -> None:
    parts = compute_plan(request(**fields))
    for world, want in expected.items():
        assert deltas(parts, world) == want, name


def test_lot_rounding_has_no_float_residue() -> None:
    assert round_to_lot(0.30000000000000004, 0.1) == 0.3
    assert repr(round_to_lot(0.1 + 0.2, 0.1)) == "0.3"
    assert round_to_lot(0.29999999999, 0.1) == 0.3  # within 1e-9 lots of 3 lots
    assert round_to_lot(0.2999, 0.1) == 0.2  # toward zero
    assert round_to_lot(-0.2999, 0.1) == -0.2
    assert round_to_lot(-0.05, 0.1) == 0.0
    assert round_to_lot(5.0, None) == 5.0
    assert round_to_lot(123456789.0, 0.001) == 123456789.0
    assert round_to_lot(7.0, 2.5) == 5.0
    assert round_to_lot(1e17 + 0.5, 0.001) == 1e17  # beyond 2**53 lots: exact Decimal path
    assert round_to_lot(3.5e22, 1e22) == 3e22  # a lot with a positive exponent
    assert round_to_lot(12.345, 0.005) == 12.345


def test_world_scale_rules() -> None:
    assert world_scale(0.4, 0.2) == 0.5
    assert world_scale(0.0, 0.2) == 1.0
    assert world_scale(0.0, 0.0) == 0.0


def test_global_deltas_net_across_worlds_with_lots() -> None:
    parts = compute_plan(
        request(
            world_alloc_before={"a": 0.3, "b": 0.3, "c": 0.2},
            world_alloc_after={"a": 0.2, "b": 0.2, "c": 0.4},
            positions=[
                pos("a", "s", "BTC", 1.0, 60_000.0),
                pos("b", "s", "BTC", 1.0, 60_000.0),
                pos("c", "s", "ETH", 1.0, 3_000.0),
                pos("c", "s", "BTC", 0.1, 60_000.0),
            ],
            lot_size_by_symbol={"BTC": 0.001, "ETH": 0.01},
        )
    )
    assert deltas(parts, "a") == [("BTC", -0.333, None)]
    assert deltas(parts, "b") == [("BTC", -0.333, None)]
    assert deltas(parts, "c") == [("BTC", 0.1, None), ("ETH", 1.0, None)]
    assert flat(parts.global_deltas) == [("BTC", -0.566, None), ("ETH", 1.0, None)]


def test_global_dust_uses_the_all_worlds_weighted_mark() -> None:
    # Each world's change is 100 notional; netted across worlds only 10 is left: dust.
    parts = compute_plan(
        request(
            world_alloc_before={"a": 0.5, "b": 0.5},
            world_alloc_after={"a": 0.25, "b": 0.75},
            positions=[pos("a", "s", "X", 2.0, 100.0), pos("b", "s", "X", 1.8, 100.0)],
            min_trade_notional=50.0,
        )
    )
    assert deltas(parts, "a") == [("X", -1.0, None)]
    assert deltas(parts, "b") == [("X", pytest.approx(0.9), None)]
    assert parts.global_deltas == []


def test_worlds_without_positions_get_an_empty_plan() -> None:
    parts = compute_plan(
        request(world_alloc_before={"a": 0.5, "z": 0.1}, world_alloc_after={"a": 0.5, "z": 0.2})
    )
    assert list(parts.per_world) == ["a", "z"]
    assert parts.per_world["z"].scale_world == 2.0
    assert parts.per_world["z"].deltas == [] and parts.per_world["z"].scale_by_strategy == {}


OVERLAY = OverlayConfig(
    instrument_by_world={"a": "ES", "b": "ES", "c": "NQ"},
    price_by_symbol={"ES": 3_000.0, "NQ": 100.0},
)
OVERLAY_REQUEST: dict[str, Any] = {
    "world_alloc_before": {"a": 0.4, "b": 0.2, "c": 0.2},
    "world_alloc_after": {"a": 0.2, "b": 0.3, "c": 0.2},
    "positions": [
        pos("a", "s", "BTC", 1.0, 60_000.0),
        pos("b", "s", "ETH", 10.0, 3_000.0),
        pos("c", "s", "SOL", 10.0, 100.0),
    ],
    "lot_size_by_symbol": {"ES": 0.5},
}


def test_overlay_trades_the_index_and_leaves_positions() -> None:
    parts = compute_plan(request(mode="OVERLAY", overlay=OVERLAY, **OVERLAY_REQUEST))
    # a: −0.5·60000 = −30000; b: +0.5·30000 = +15000; net ES −15000 / 3000 = −5.
    assert flat(parts.overlay_deltas) == [("ES", -5.0, None)]
    assert all(p.deltas == [] for p in parts.per_world.values())
    assert parts.global_deltas == []
    assert parts.per_world["a"].scale_world == 0.5
    assert parts.per_world["a"].scale_by_strategy == {"s": 1.0}


def test_overlay_min_order_notional_and_lots() -> None:
    config = OverlayConfig(
        instrument_by_world=OVERLAY.instrument_by_world,
        price_by_symbol=OVERLAY.price_by_symbol,
        min_order_notional=20_000.0,
    )
    parts = compute_plan(request(mode="overlay", overlay=config, **OVERLAY_REQUEST))
    assert parts.overlay_deltas == []


def _hybrid(fraction: float) -> PlanParts:
    config = OverlayConfig(
        instrument_by_world=OVERLAY.instrument_by_world,
        price_by_symbol=OVERLAY.price_by_symbol,
        overlay_fraction=fraction,
    )
    return compute_plan(request(mode="hybrid", overlay=config, **OVERLAY_REQUEST))


def test_hybrid_zero_equals_scaling() -> None:
    scaling = compute_plan(request(**OVERLAY_REQUEST))
    hybrid = _hybrid(0.0)
    assert hybrid.per_world == scaling.per_world
    assert hybrid.global_deltas == scaling.global_deltas
    assert hybrid.overlay_deltas == []


def test_hybrid_one_equals_overlay() -> None:
    overlay = compute_plan(request(mode="overlay", overlay=OVERLAY, **OVERLAY_REQUEST))
    assert _hybrid(1.0) == overlay


def test_hybrid_half_splits_the_change() -> None:
    parts = _hybrid(0.5)
    # a: g = 0.5 → scaling part 0.75 (−0.25 BTC), overlay part −0.25·60000 = −15000;
    # b: g = 1.5 → scaling part 1.25 (+2.5 ETH), overlay +0.25·30000 = +7500.
    assert deltas(parts, "a") == [("BTC", -0.25, None)]
    assert deltas(parts, "b") == [("ETH", 2.5, None)]
    assert parts.per_world["a"].scale_by_strategy == {"s": 0.75}
    assert flat(parts.overlay_deltas) == [("ES", -2.5, None)]


def test_overflow_is_reported() -> None:
    with pytest.raises(PlanOverflowError):
        compute_plan(
            request(
                world_alloc_before={"w": 1e-320},
                world_alloc_after={"w": 1.0},
                positions=[pos("w", "s", "A", 1.0, 1.0)],
            )
        )


def test_unknown_mode_is_rejected() -> None:
    with pytest.raises(ValueError):
        compute_plan(request(mode="twist"))


def test_hybrid_without_fraction_is_rejected() -> None:
    with pytest.raises(ValueError):
        compute_plan(request(mode="hybrid", overlay=OVERLAY, **OVERLAY_REQUEST))


def test_big_requests_leave_the_gc_enabled() -> None:
    n = 50_000
    positions = [pos("w", f"s{i % 3}", f"S{i % 500}", 1.0 + i % 7, 10.0) for i in range(n)]
    parts = compute_plan(
        request(world_alloc_before={"w": 0.5}, world_alloc_after={"w": 0.25}, positions=positions)
    )
    assert gc.isenabled()
    total = sum(p.qty for p in positions)
    assert sum(d.delta_qty for d in parts.per_world["w"].deltas) == pytest.approx(-total / 2)
    assert len(parts.per_world["w"].deltas) == 500
