"""Tests for the alpha_performance metrics module (SPEC §5)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.contracts.rebalancing import AlphaMetricsEnvelope
from app.metrics import (
    METRIC_KEYS,
    METRIC_NAMES,
    compute_metrics,
    compute_metrics_raw,
    default_metrics,
    parse_alpha_envelope,
    sanitize_metrics,
)

SHARPE, MDD, WIN, PF, CAR, RAR = METRIC_KEYS


def test_keys_are_the_six_names_in_order() -> None:
    assert METRIC_NAMES == (
        "sharpe", "max_drawdown", "win_ratio", "profit_factor", "car_mdd", "rar_mdd"
    )
    assert METRIC_KEYS == tuple(f"alpha_performance.{n}" for n in METRIC_NAMES)


def test_reference_series() -> None:
    got = compute_metrics([0.1, -0.05, 0.2])
    assert list(got) == list(METRIC_KEYS)
    expected = {
        SHARPE: 0.811107, MDD: -0.05, WIN: 0.666667, PF: 6.0, CAR: 5.08, RAR: 16.222142
    }
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-6), key


def test_non_finite_entries_are_dropped() -> None:
    noisy = compute_metrics([0.1, math.nan, -0.05, math.inf, 0.2, -math.inf])
    assert noisy == compute_metrics([0.1, -0.05, 0.2])


def test_empty_series_raw_is_undefined_except_drawdown() -> None:
    raw = compute_metrics_raw([])
    assert raw == {SHARPE: None, MDD: 0.0, WIN: None, PF: None, CAR: None, RAR: None}
    assert compute_metrics([]) == default_metrics()


def test_constant_series_has_no_sharpe() -> None:
    raw = compute_metrics_raw([0.1, 0.1, 0.1])
    assert raw[SHARPE] is None
    assert raw[MDD] == 0.0
    assert raw[WIN] == 1.0
    assert raw[PF] is None  # no losses
    assert raw[CAR] is None and raw[RAR] is None
    assert compute_metrics([0.1, 0.1, 0.1])[SHARPE] == 0.0


def test_transaction_cost_and_rf() -> None:
    # cost shifts every return; rf only moves sharpe's mean.
    base = compute_metrics_raw([0.12, -0.03, 0.22], transaction_cost=0.02)
    ref = compute_metrics_raw([0.1, -0.05, 0.2])
    for key in METRIC_KEYS:
        assert base[key] == pytest.approx(ref[key], abs=1e-9), key
    with_rf = compute_metrics_raw([0.1, -0.05, 0.2], rf=0.01)
    assert with_rf[SHARPE] == pytest.approx((0.25 / 3 - 0.01) / 0.1027402, abs=1e-5)
    assert with_rf[WIN] == ref[WIN]


def test_all_losses() -> None:
    raw = compute_metrics_raw([-0.1, -0.1])
    assert raw[PF] == 0.0
    assert raw[WIN] == 0.0
    assert raw[MDD] == pytest.approx(-0.19)
    assert raw[CAR] == pytest.approx(-0.19 / 0.19)


def test_non_finite_rf_is_rejected() -> None:
    with pytest.raises(ValueError):
        compute_metrics([0.1], rf=math.nan)


@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=50))
def test_wire_values_are_always_finite(returns: list[float]) -> None:
    got = compute_metrics(returns)
    assert list(got) == list(METRIC_KEYS)
    assert all(isinstance(v, float) and math.isfinite(v) for v in got.values())
    assert got[MDD] <= 0.0
    assert 0.0 <= got[WIN] <= 1.0


@pytest.mark.parametrize(
    ("given_", "expected_sharpe"),
    [
        ({SHARPE: 1.5}, 1.5),
        ({SHARPE: 2}, 2.0),
        ({SHARPE: math.nan}, 0.0),
        ({SHARPE: math.inf}, 0.0),
        ({SHARPE: None}, 0.0),
        ({SHARPE: True}, 0.0),
        ({SHARPE: "1.5"}, 0.0),
        ({SHARPE: 10**400}, 0.0),
        ({"alpha_performance.unknown": 3.0}, 0.0),
        ("not a mapping", 0.0),
        (None, 0.0),
    ],
)
def test_sanitize_metrics(given_: object, expected_sharpe: float) -> None:
    got = sanitize_metrics(given_)
    assert list(got) == list(METRIC_KEYS)
    assert got[SHARPE] == expected_sharpe
    assert "alpha_performance.unknown" not in got


def test_parse_alpha_envelope_is_tolerant() -> None:
    env = parse_alpha_envelope(
        {
            "per_world": {"w1": {SHARPE: 1.0, "extra": 5}, "w2": "bad", 3: {SHARPE: 1.0}},
            "per_strategy": {"s1": {"w1": {MDD: math.nan, PF: 2.0}}, "s2": [1, 2]},
            "unknown_top": {"x": 1},
        }
    )
    assert isinstance(env, AlphaMetricsEnvelope)
    assert env.per_world == {"w1": {**default_metrics(), SHARPE: 1.0}}
    assert env.per_strategy == {"s1": {"w1": {**default_metrics(), PF: 2.0}}}


def test_parse_alpha_envelope_of_garbage_is_empty() -> None:
    for garbage in (None, 1, "x", [], {"per_world": 3}):
        env = parse_alpha_envelope(garbage)
        assert env.per_world == {} and env.per_strategy == {}


def test_parse_alpha_envelope_resanitises_an_envelope() -> None:
    env = AlphaMetricsEnvelope(per_world={"w": {SHARPE: math.nan}})
    assert parse_alpha_envelope(env).per_world == {"w": default_metrics()}
