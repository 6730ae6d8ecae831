"""Tests of the request validator: every bad field is named by its JSON path."""

from __future__ import annotations

import math
from typing import Any

import pytest

from app.contracts.rebalancing import OverlayConfig
from app.errors import PayloadTooLargeError, ValidationFailedError
from app.worldservice.validation import MAX_ERRORS, validate_request
from tests.worldservice.plan_builders import pos, request

GOOD_OVERLAY = OverlayConfig(instrument_by_world={"w": "ES"}, price_by_symbol={"ES": 100.0})


def paths(**fields: Any) -> set[str]:
    with pytest.raises(ValidationFailedError) as info:
        validate_request(request(**fields))
    assert info.value.status == 422 and info.value.code == "E_VALIDATION"
    return {item["path"] for item in info.value.errors or []}


def test_a_valid_request_passes() -> None:
    validate_request(
        request(
            positions=[pos("w", "s", "A", -1.0, 10.0, "x")],
            strategy_alloc_before_total={"w": {"s": 0.1}},
            strategy_alloc_after_total={"w": {"s": 0.2}},
            min_trade_notional=0.0,
            lot_size_by_symbol={"A": 0.1},
            mode="Hybrid",
            overlay=OverlayConfig(
                instrument_by_world={"w": "ES"},
                price_by_symbol={"ES": 100.0},
                overlay_fraction=0.5,
            ),
            schema_version=2,
        )
    )


CASES: list[tuple[str, dict[str, Any], set[str]]] = [
    ("negative equity", {"total_equity": -1.0}, {"$.total_equity"}),
    ("nan equity", {"total_equity": math.nan}, {"$.total_equity"}),
    ("inf equity", {"total_equity": math.inf}, {"$.total_equity"}),
    (
        "allocations outside [0, 1]",
        {"world_alloc_before": {"w": 1.5}, "world_alloc_after": {"w": -0.1}},
        {'$.world_alloc_before["w"]', '$.world_alloc_after["w"]'},
    ),
    ("empty world id in a map", {"world_alloc_after": {"w": 0.5, "": 0.1}},
     {'$.world_alloc_after[""]'}),
    (
        "every bad position field",
        {"positions": [pos("w", "s", "A", 1.0, 1.0), pos("", "", "", math.nan, 0.0),
                       pos("w", "s", "B", math.inf, -math.inf)]},
        {"$.positions[1].world_id", "$.positions[1].strategy_id", "$.positions[1].symbol",
         "$.positions[1].qty", "$.positions[1].mark", "$.positions[2].qty",
         "$.positions[2].mark"},
    ),
    (
        "world with positions missing from the allocation maps",
        {"positions": [pos("v", "s", "A", 1.0, 1.0)], "world_alloc_after": {"w": 0.5, "v": 0.1}},
        {'$.world_alloc_before["v"]'},
    ),
    (
        "strategy maps",
        {"strategy_alloc_before_total": {"w": {"s": -0.1}},
         "strategy_alloc_after_total": {"w": {"": 0.1, "t": math.nan}}},
        {'$.strategy_alloc_before_total["w"]["s"]', '$.strategy_alloc_after_total["w"][""]',
         '$.strategy_alloc_after_total["w"]["t"]'},
    ),
    ("negative dust", {"min_trade_notional": -1.0}, {"$.min_trade_notional"}),
    ("lot sizes", {"lot_size_by_symbol": {"A": 0.0, "B": -1.0, "C": math.nan}},
     {'$.lot_size_by_symbol["A"]', '$.lot_size_by_symbol["B"]', '$.lot_size_by_symbol["C"]'}),
    ("unknown mode", {"mode": "twist"}, {"$.mode"}),
    ("overlay without config", {"mode": "overlay"}, {"$.overlay"}),
    ("hybrid without fraction", {"mode": "hybrid", "overlay": GOOD_OVERLAY},
     {"$.overlay.overlay_fraction"}),
    (
        "hybrid fraction outside [0, 1]",
        {"mode": "hybrid", "overlay": OverlayConfig(
            instrument_by_world={}, price_by_symbol={}, overlay_fraction=1.5)},
        {"$.overlay.overlay_fraction"},
    ),
    (
        "overlay world without instrument or price",
        {"mode": "overlay",
         "world_alloc_before": {"w": 0.5, "v": 0.5}, "world_alloc_after": {"w": 0.5, "v": 0.5},
         "positions": [pos("w", "s", "A", 1.0, 1.0), pos("v", "s", "A", 1.0, 1.0)],
         "overlay": OverlayConfig(instrument_by_world={"w": "NQ"},
                                  price_by_symbol={"ES": 0.0}, min_order_notional=-1.0)},
        {'$.overlay.instrument_by_world["v"]', '$.overlay.price_by_symbol["NQ"]',
         '$.overlay.price_by_symbol["ES"]', "$.overlay.min_order_notional"},
    ),
    ("schema version 0", {"schema_version": 0}, {"$.schema_version"}),
    ("empty world in returns", {"realized_returns_by_world": {"": [0.1]}},
     {'$.realized_returns_by_world[""]'}),
]


@pytest.mark.parametrize(("name", "fields", "expected"), CASES, ids=[c[0] for c in CASES])
def test_each_rule(name: str, fields: dict[str, Any], expected: set[str]) -> None:
    assert paths(**fields) == expected, name


def test_all_errors_are_listed_together() -> None:
    got = paths(total_equity=-1.0, mode="twist", positions=[pos("w", "s", "A", 1.0, 0.0)])
    assert got == {"$.total_equity", "$.mode", "$.positions[0].mark"}


def test_error_list_is_capped() -> None:
    bad = [pos("w", "s", "A", 1.0, -1.0)] * (MAX_ERRORS + 5)
    with pytest.raises(ValidationFailedError) as info:
        validate_request(request(positions=bad))
    assert len(info.value.errors or []) == MAX_ERRORS
    assert f"{MAX_ERRORS + 5} invalid fields" in info.value.detail


def test_too_many_positions() -> None:
    with pytest.raises(PayloadTooLargeError):
        validate_request(request(positions=[pos("w", "s", "A", 1.0, 1.0)] * 3), max_positions=2)


def test_mode_is_case_insensitive() -> None:
    validate_request(request(mode="SCALING"))
    validate_request(request(mode="Overlay", overlay=GOOD_OVERLAY))
