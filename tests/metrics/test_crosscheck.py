"""The tear-sheet statistics against empyrical-reloaded (and pandas/scipy) on seeded series.

empyrical-reloaded is a test-only dependency (the ``dev`` extra). Where its definition and
ours match, the numbers must agree to ``REL``; where we differ on purpose (annualised
information ratio) the test states the conversion, as ``docs/tearsheet.md`` does.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import empyrical
import numpy as np
import pandas as pd
import pytest
import scipy.stats

from app.metrics.performance import Performance, performance
from app.metrics.timeseries import calendar_returns, rolling_sharpe, rolling_volatility

REL = 1e-9
"""Relative tolerance: the formulas are the same, only summation order differs."""
ABS = 1e-12
RF = 0.0001
PPY = 252


def _series(seed: int, kind: str, n: int = 750) -> tuple[pd.Series, pd.Series]:
    """A strategy and a benchmark: normal, fat-tailed, often flat, or trending down."""
    rng = np.random.default_rng(seed)
    bench = rng.normal(0.0003, 0.011, n)
    if kind == "normal":
        r = 0.7 * bench + rng.normal(0.0002, 0.007, n)
    elif kind == "fat-tails":
        r = 0.4 * bench + rng.standard_t(3, n) * 0.006
    elif kind == "mostly-flat":
        r = np.where(rng.random(n) < 0.7, 0.0, bench * 1.2)
    else:  # "losing"
        r = rng.normal(-0.0008, 0.015, n)
    index = pd.bdate_range("2021-01-04", periods=n)
    return pd.Series(r, index=index), pd.Series(bench, index=index)


CASES = [(seed, kind) for seed, kind in
         [(1, "normal"), (2, "fat-tails"), (3, "mostly-flat"), (4, "losing"), (5, "normal")]]


def _close(ours: float | None, theirs: float) -> None:
    assert ours is not None, f"undefined where the reference gives {theirs}"
    assert ours == pytest.approx(float(theirs), rel=REL, abs=ABS)


@pytest.fixture(params=CASES, ids=[f"{k}-{s}" for s, k in CASES])
def case(request: pytest.FixtureRequest) -> tuple[pd.Series, pd.Series, Performance]:
    r, b = _series(*request.param)
    return r, b, performance(r.to_numpy(), periods_per_year=PPY, rf=RF, benchmark=b.to_numpy())


REFERENCE: dict[str, Callable[[pd.Series, pd.Series], float]] = {
    "total_return": lambda r, b: empyrical.cum_returns_final(r),
    "cagr": lambda r, b: empyrical.annual_return(r, annualization=PPY),
    "volatility": lambda r, b: empyrical.annual_volatility(r, annualization=PPY),
    "sharpe": lambda r, b: empyrical.sharpe_ratio(r, risk_free=RF, annualization=PPY),
    "sortino": lambda r, b: empyrical.sortino_ratio(r, required_return=RF, annualization=PPY),
    "calmar": lambda r, b: empyrical.calmar_ratio(r, annualization=PPY),
    "max_drawdown": lambda r, b: empyrical.max_drawdown(r),
    "var": lambda r, b: empyrical.value_at_risk(r, cutoff=0.05),
    "cvar": lambda r, b: empyrical.conditional_value_at_risk(r, cutoff=0.05),
    "tail_ratio": lambda r, b: empyrical.tail_ratio(r),
    "beta": lambda r, b: empyrical.beta(r, b, risk_free=RF),
    "alpha": lambda r, b: empyrical.alpha(r, b, risk_free=RF, annualization=PPY),
    # empyrical's excess_sharpe is per period; ours is annualised (× √periods per year).
    "information_ratio": lambda r, b: empyrical.excess_sharpe(r, b) * math.sqrt(PPY),
    # Not in empyrical: pandas' bias-corrected moments and Pearson correlation, and scipy.
    "skew": lambda r, b: r.skew(),
    "kurtosis": lambda r, b: r.kurt(),
    "correlation": lambda r, b: r.corr(b),
    "tracking_error": lambda r, b: float(np.std(r - b, ddof=1)) * math.sqrt(PPY),
    "best": lambda r, b: r.max(),
    "worst": lambda r, b: r.min(),
}


@pytest.mark.parametrize("key", sorted(REFERENCE))
def test_statistic_matches_the_reference(
    case: tuple[pd.Series, pd.Series, Performance], key: str
) -> None:
    r, b, ours = case
    _close(getattr(ours, key), REFERENCE[key](r, b))


def test_moments_match_scipy(case: tuple[pd.Series, pd.Series, Performance]) -> None:
    r, _, ours = case
    _close(ours.skew, scipy.stats.skew(r.to_numpy(), bias=False))
    _close(ours.kurtosis, scipy.stats.kurtosis(r.to_numpy(), fisher=True, bias=False))


def test_win_rate_counts_non_flat_periods(
    case: tuple[pd.Series, pd.Series, Performance]
) -> None:
    r, _, ours = case
    moved = r[r != 0.0]
    _close(ours.win_rate, float((moved > 0).mean()))


@pytest.mark.parametrize("window", [21, 126])
def test_rolling_series_match_the_reference(
    case: tuple[pd.Series, pd.Series, Performance], window: int
) -> None:
    r, _, _ = case
    values = r.to_numpy()
    theirs = empyrical.roll_sharpe_ratio(r, window, risk_free=RF, annualization=PPY).to_numpy()
    ours = rolling_sharpe(values, window, PPY, RF)
    # A window of identical returns has no Sharpe ratio: empyrical gives NaN or ±inf there.
    defined = np.isfinite(theirs)
    assert np.array_equal(np.isfinite(ours), defined)
    np.testing.assert_allclose(ours[defined], theirs[defined], rtol=1e-7, atol=1e-9)
    vol = empyrical.roll_annual_volatility(r, window, annualization=PPY).to_numpy()
    np.testing.assert_allclose(rolling_volatility(values, window, PPY), vol, rtol=1e-7,
                               atol=1e-12)


def test_calendar_returns_match_the_reference(
    case: tuple[pd.Series, pd.Series, Performance]
) -> None:
    r, _, _ = case
    monthly, yearly = calendar_returns(r.to_numpy(), r.index.to_numpy())
    theirs_m = empyrical.aggregate_returns(r, "monthly")
    theirs_y = empyrical.aggregate_returns(r, "yearly")
    assert [(y, m) for y, m, _ in monthly] == [tuple(k) for k in theirs_m.index]
    np.testing.assert_allclose([v for _, _, v in monthly], theirs_m.to_numpy(), rtol=REL)
    assert [y for y, _ in yearly] == list(theirs_y.index)
    np.testing.assert_allclose([v for _, v in yearly], theirs_y.to_numpy(), rtol=REL)
