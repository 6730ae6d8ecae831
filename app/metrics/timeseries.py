"""Series behind the tear sheet's charts: equity, drawdown, rolling and calendar returns (pure)."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "STANDARD_FREQUENCIES",
    "calendar_returns",
    "drawdown_curve",
    "equity_curve",
    "infer_periods_per_year",
    "rolling_sharpe",
    "rolling_volatility",
]

Floats = NDArray[np.float64]
Dates = NDArray[np.datetime64]

STANDARD_FREQUENCIES: tuple[int, ...] = (1, 4, 12, 52, 252, 365)
"""Periods per year an inferred frequency snaps to (yearly … trading-daily, calendar-daily)."""
# An inferred frequency within this factor of a standard one is taken as that one.
_SNAP = 1.2
_YEAR_SECONDS = 365.25 * 86400.0


def equity_curve(returns: Floats) -> Floats:
    """The compounded equity ``E_0 = 1, E_t = E_{t−1}·(1 + r_t)`` (n + 1 points)."""
    with np.errstate(all="ignore"):
        return np.concatenate(([1.0], np.cumprod(1.0 + returns)))


def drawdown_curve(returns: Floats) -> Floats:
    """``E_t / max_{s≤t} E_s − 1`` for t = 0 … n (≤ 0; the start counts as a peak)."""
    equity = equity_curve(returns)
    with np.errstate(all="ignore"):
        return equity / np.maximum.accumulate(equity) - 1.0


def _rolling_moments(x: Floats, window: int) -> tuple[Floats, Floats, NDArray[np.bool_]]:
    """Rolling mean, sample variance and "window is constant" of ``x``, each O(n).

    Sums run over values centred on the global mean, which keeps the cancellation in
    ``Σx² − (Σx)²/w`` small; a window whose values are all equal is flagged exactly (its
    variance would otherwise be float noise, and its Sharpe ratio a huge number).
    """
    centre = float(x.mean())
    c = x - centre
    s1 = np.concatenate(([0.0], np.cumsum(c)))
    s2 = np.concatenate(([0.0], np.cumsum(c * c)))
    w1 = s1[window:] - s1[:-window]
    w2 = s2[window:] - s2[:-window]
    var = np.maximum((w2 - w1 * w1 / window) / (window - 1), 0.0)
    changes = np.concatenate(([0], np.cumsum(np.diff(x) != 0.0)))
    constant = (changes[window - 1:] - changes[: len(x) - window + 1]) == 0
    return w1 / window + centre, var, constant


def rolling_volatility(returns: Floats, window: int, periods_per_year: float) -> Floats:
    """Annualised sample volatility over each trailing window (n − window + 1 values).

    Value ``i`` covers returns ``i … i + window − 1``; empty when the series is shorter.
    """
    if window < 2 or len(returns) < window:
        return np.empty(0)
    _, var, constant = _rolling_moments(returns, window)
    return np.where(constant, 0.0, np.sqrt(var)) * math.sqrt(periods_per_year)


def rolling_sharpe(
    returns: Floats, window: int, periods_per_year: float, rf: float = 0.0
) -> Floats:
    """Annualised Sharpe ratio over each trailing window; NaN where a window is constant."""
    if window < 2 or len(returns) < window:
        return np.empty(0)
    mean, var, constant = _rolling_moments(returns - rf, window)
    with np.errstate(all="ignore"):
        out = mean / np.sqrt(var) * math.sqrt(periods_per_year)
    return np.where(constant | ~np.isfinite(out), np.nan, out)


def calendar_returns(
    returns: Floats, dates: Dates
) -> tuple[list[tuple[int, int, float]], list[tuple[int, float]]]:
    """Compounded returns per calendar month and per calendar year, in O(n).

    Args:
        returns: per-period returns.
        dates: the end date of each period, increasing (numpy ``datetime64``).

    Returns:
        ``[(year, month, return)]`` and ``[(year, return)]``, each in time order; months and
        years without a period are absent.
    """
    if len(returns) == 0:
        return [], []
    months = dates.astype("datetime64[M]").astype(np.int64)
    growth = 1.0 + returns

    def grouped(keys: NDArray[np.int64]) -> tuple[NDArray[np.int64], Floats]:
        starts = np.concatenate(([0], np.flatnonzero(np.diff(keys)) + 1))
        with np.errstate(all="ignore"):
            return keys[starts], np.multiply.reduceat(growth, starts) - 1.0

    mkeys, mvalues = grouped(months)
    ykeys, yvalues = grouped(months // 12)
    monthly = [(int(k) // 12 + 1970, int(k) % 12 + 1, float(v))
               for k, v in zip(mkeys, mvalues, strict=True)]
    yearly = [(int(k) + 1970, float(v)) for k, v in zip(ykeys, yvalues, strict=True)]
    return monthly, yearly


def infer_periods_per_year(dates: Dates) -> float | None:
    """Periods per year implied by the dates: (count − 1) over the span in years.

    A value within a factor 1.2 of a standard frequency (1, 4, 12, 52, 252, 365) is taken
    as that frequency: business-daily data (≈ 261 dates a year, fewer on holidays) gives
    252. Others are rounded (hourly bars keep their own figure).

    Returns:
        The frequency, or None with fewer than 2 dates or a zero span.
    """
    if len(dates) < 2:
        return None
    span = float((dates[-1] - dates[0]) / np.timedelta64(1, "s"))
    if not span > 0:
        return None
    raw = (len(dates) - 1) * _YEAR_SECONDS / span
    best = min(STANDARD_FREQUENCIES, key=lambda f: abs(math.log(raw / f)))
    if abs(math.log(raw / best)) <= math.log(_SNAP):
        return float(best)
    return float(max(1, round(raw)))
