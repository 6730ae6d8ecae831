"""Tear-sheet statistics on hand-checked series: drawdowns, win rate, undefined cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.metrics.alpha import compute_metrics_raw
from app.metrics.performance import Drawdown, drawdown_episodes, performance
from app.metrics.timeseries import (
    calendar_returns,
    drawdown_curve,
    infer_periods_per_year,
    rolling_sharpe,
    rolling_volatility,
)


def test_hand_checked_series() -> None:
    r = [0.1, -0.05, 0.0, 0.2, 0.0]
    p = performance(r, periods_per_year=4)
    assert p.periods == 5
    assert p.total_return == pytest.approx(1.1 * 0.95 * 1.2 - 1)
    assert p.cagr == pytest.approx((1.1 * 0.95 * 1.2) ** (4 / 5) - 1)
    assert p.best == 0.2 and p.worst == -0.05
    # Three of the five periods moved; two of those gained.
    assert p.win_rate == pytest.approx(2 / 3)
    assert p.profit_factor == pytest.approx(0.3 / 0.05)
    assert p.max_drawdown == pytest.approx(-0.05)
    assert p.max_drawdown_length == 3  # peak at E_1, back above it at E_4
    assert p.max_drawdown_recovery == 2
    assert p.beta is None and p.information_ratio is None


def test_wire_win_ratio_is_unchanged_next_to_the_new_win_rate() -> None:
    r = [0.01, 0.0, 0.0, 0.0, -0.01]
    assert compute_metrics_raw(r)["alpha_performance.win_ratio"] == pytest.approx(0.2)
    assert performance(r).win_rate == pytest.approx(0.5)


def test_drawdown_episodes() -> None:
    r = np.array([-0.1, 0.05, 0.1, -0.2, 0.1])
    episodes = drawdown_episodes(r)
    assert episodes[0] == Drawdown(peak=0, trough=1, recovery=3, depth=pytest.approx(-0.1),
                                   length=3)
    assert episodes[1].peak == 3 and episodes[1].trough == 4 and episodes[1].recovery is None
    assert episodes[1].length == 2  # still under water at the last period
    p = performance(r)
    assert p.max_drawdown == pytest.approx(-0.2)
    assert p.max_drawdown_recovery is None and p.longest_drawdown == 3


@pytest.mark.parametrize(
    ("returns", "none"),
    [([], {"total_return", "sharpe", "var", "win_rate"}),
     ([0.01], {"volatility", "sharpe", "sortino", "skew"}),
     ([0.01, 0.01, 0.01, 0.01], {"sharpe", "skew", "kurtosis", "calmar", "sortino",
                                 "profit_factor"}),
     ([0.0, 0.0, 0.0], {"sharpe", "win_rate", "profit_factor", "tail_ratio"})],
)
def test_undefined_is_none_not_zero(returns: list[float], none: set[str]) -> None:
    p = performance(returns)
    for key in none:
        assert getattr(p, key) is None, key


def test_constant_series_has_zero_volatility() -> None:
    assert performance([0.01] * 10).volatility == 0.0


def test_benchmark_rules() -> None:
    r = [0.01, -0.02, 0.03, 0.0]
    same = performance(r, benchmark=r)
    assert same.beta == pytest.approx(1.0) and same.correlation == pytest.approx(1.0)
    assert same.tracking_error == 0.0 and same.information_ratio is None
    flat = performance(r, benchmark=[0.001] * 4)
    assert flat.beta is None and flat.correlation is None
    with pytest.raises(ValueError, match="benchmark has 3 periods"):
        performance(r, benchmark=[0.0] * 3)


def test_non_finite_returns_are_dropped_with_their_benchmark_pair() -> None:
    p = performance([0.01, math.nan, -0.01], benchmark=[0.02, 0.5, math.inf])
    assert p.periods == 1


def test_huge_and_ruinous_series_stay_finite_or_none() -> None:
    p = performance([150.0, -99.0, 2.0] * 40)
    assert p.cagr is None or math.isfinite(p.cagr)
    ruin = performance([0.1, -1.5, 0.1])
    assert ruin.total_return is not None and ruin.total_return < -1 and ruin.cagr is None


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="periods_per_year"):
        performance([0.1], periods_per_year=0)
    with pytest.raises(ValueError, match="rf"):
        performance([0.1], rf=math.nan)


@given(st.lists(st.floats(-0.5, 0.5, allow_nan=False), min_size=1, max_size=60))
def test_max_drawdown_equals_the_wire_metric(returns: list[float]) -> None:
    wire = compute_metrics_raw(returns)["alpha_performance.max_drawdown"]
    assert performance(returns).max_drawdown == pytest.approx(wire, abs=1e-12)
    assert drawdown_curve(np.array(returns)).min() == pytest.approx(wire, abs=1e-12)


@given(st.lists(st.floats(-0.2, 0.2, allow_nan=False).map(lambda x: round(x, 3)), min_size=2,
                max_size=80), st.integers(2, 20))
def test_rolling_matches_a_naive_rescan(returns: list[float], window: int) -> None:
    r = np.array(returns)
    ours_s, ours_v = rolling_sharpe(r, window, 252.0), rolling_volatility(r, window, 252.0)
    if len(r) < window:
        assert len(ours_s) == 0 and len(ours_v) == 0
        return
    for i in range(len(r) - window + 1):
        chunk = r[i:i + window]
        std = float(np.std(chunk, ddof=1)) if chunk.min() != chunk.max() else 0.0
        assert ours_v[i] == pytest.approx(std * math.sqrt(252), rel=1e-6, abs=1e-9)
        if std == 0.0:
            assert math.isnan(ours_s[i])
        else:
            assert ours_s[i] == pytest.approx(chunk.mean() / std * math.sqrt(252), rel=1e-5,
                                              abs=1e-7)


def test_calendar_returns_compound_within_months() -> None:
    dates = np.array(["2024-12-30", "2024-12-31", "2025-01-02", "2025-03-03"],
                     dtype="datetime64[s]")
    monthly, yearly = calendar_returns(np.array([0.1, 0.1, -0.5, 0.2]), dates)
    assert monthly == [(2024, 12, pytest.approx(0.21)), (2025, 1, -0.5),
                       (2025, 3, pytest.approx(0.2))]
    assert yearly == [(2024, pytest.approx(0.21)), (2025, pytest.approx(-0.4))]


@pytest.mark.parametrize(
    ("freq", "count", "expected"),
    [("B", 300, 252.0), ("D", 400, 365.0), ("W-MON", 60, 52.0), ("MS", 40, 12.0),
     ("h", 500, 8766.0)],
)
def test_infer_periods_per_year(freq: str, count: int, expected: float) -> None:
    import pandas as pd

    dates = pd.date_range("2020-01-01", periods=count, freq=freq).to_numpy()
    assert infer_periods_per_year(dates) == expected


def test_infer_needs_two_dates() -> None:
    one = np.array(["2025-01-01"], dtype="datetime64[s]")
    assert infer_periods_per_year(one) is None


@pytest.mark.parametrize("module", ["performance.py", "timeseries.py"])
def test_statistics_modules_stay_pure(module: str) -> None:
    import ast
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "app" / "metrics" / module
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            roots.add(node.module.split(".")[0])
    assert roots <= {"__future__", "math", "collections", "msgspec", "numpy"}
