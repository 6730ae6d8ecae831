"""Tear-sheet statistics of a return series: annualised, pure numpy, optional benchmark.

These are the report's numbers, apart from the per-period wire metrics of ``alpha.py`` (whose
meaning the contract fixes). Definitions follow empyrical where both have the statistic;
``docs/tearsheet.md`` writes each formula down and names every deliberate difference.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import msgspec
import numpy as np
from numpy.typing import NDArray

__all__ = [
    "DEFAULT_PERIODS_PER_YEAR",
    "TAIL_CUTOFF",
    "Drawdown",
    "Performance",
    "drawdown_episodes",
    "performance",
]

Floats = NDArray[np.float64]

DEFAULT_PERIODS_PER_YEAR = 252
"""Periods per year when neither the caller nor the input's dates say otherwise."""
TAIL_CUTOFF = 0.05
"""VaR and CVaR are taken at this quantile of the returns (95 % confidence)."""
# Below this, a benchmark's variance counts as zero (empyrical uses the same floor).
_VARIANCE_FLOOR = 1e-30


class Drawdown(msgspec.Struct, frozen=True, kw_only=True):
    """One drawdown episode, as indices into the equity curve ``E_0 … E_n`` (0 = the start).

    Attributes:
        peak: index of the high before the fall.
        trough: index of the lowest point.
        recovery: first index back at the peak's level; None while still under water.
        depth: ``E_trough / E_peak − 1`` (negative).
        length: periods from the peak to the recovery, or to the last period when ongoing.
    """

    peak: int
    trough: int
    recovery: int | None
    depth: float
    length: int


class Performance(msgspec.Struct, frozen=True, kw_only=True):
    """The tear sheet's statistics of one series; None = undefined (see each formula)."""

    periods: int
    periods_per_year: float
    total_return: float | None = None
    cagr: float | None = None
    volatility: float | None = None
    sharpe: float | None = None
    sortino: float | None = None
    calmar: float | None = None
    max_drawdown: float | None = None
    max_drawdown_length: int | None = None
    max_drawdown_recovery: int | None = None
    longest_drawdown: int | None = None
    var: float | None = None
    cvar: float | None = None
    skew: float | None = None
    kurtosis: float | None = None
    best: float | None = None
    worst: float | None = None
    win_rate: float | None = None
    profit_factor: float | None = None
    tail_ratio: float | None = None
    beta: float | None = None
    alpha: float | None = None
    correlation: float | None = None
    information_ratio: float | None = None
    tracking_error: float | None = None


def _num(value: float | np.floating | None) -> float | None:
    """A finite Python float, or None for NaN, infinities and None."""
    if value is None:
        return None
    out = float(value)
    return out if math.isfinite(out) else None


def _div(num: float | None, den: float | None) -> float | None:
    if num is None or den is None or den == 0.0:
        return None
    return _num(num / den)


def drawdown_episodes(returns: Floats) -> list[Drawdown]:
    """Every drawdown episode of the compounded equity, in time order, in O(n).

    An episode starts when the equity falls below its running peak (the start, ``E_0 = 1``,
    counts as a peak) and ends at the first period back at that peak's level.

    Args:
        returns: finite per-period simple returns.

    Returns:
        The episodes (empty when the equity never falls).
    """
    with np.errstate(all="ignore"):
        equity = np.concatenate(([1.0], np.cumprod(1.0 + returns)))
        peaks = np.maximum.accumulate(equity)
        dd = equity / peaks - 1.0
    under = dd < 0.0
    if not under.any():
        return []
    edges = np.diff(under.astype(np.int8))
    starts = np.flatnonzero(edges == 1) + 1
    ends = np.flatnonzero(edges == -1) + 1  # first index back at the peak
    n = len(returns)
    out: list[Drawdown] = []
    for i, start in enumerate(starts):
        end = int(ends[i]) if i < len(ends) else None
        trough = int(start + np.argmin(dd[start:end if end is not None else n + 1]))
        peak = int(start) - 1
        out.append(Drawdown(peak=peak, trough=trough, recovery=end, depth=float(dd[trough]),
                            length=(end if end is not None else n) - peak))
    return out


def _tail_stats(r: Floats) -> dict[str, float | None]:
    """VaR, CVaR, tail ratio, best and worst period, win rate, profit factor."""
    var = float(np.percentile(r, 100 * TAIL_CUTOFF))
    k = int((len(r) - 1) * TAIL_CUTOFF)
    cvar = float(np.mean(np.partition(r, k)[: k + 1]))
    p95 = abs(float(np.percentile(r, 100 * (1 - TAIL_CUTOFF))))
    gains = r[r > 0.0]
    losses = r[r < 0.0]
    moved = len(gains) + len(losses)
    return {
        "var": _num(var),
        "cvar": _num(cvar),
        "tail_ratio": _div(p95, abs(var)),
        "best": _num(r.max()),
        "worst": _num(r.min()),
        "win_rate": len(gains) / moved if moved else None,
        "profit_factor": _div(_num(gains.sum()), _num(abs(losses.sum())) if moved else None),
    }


def _moments(r: Floats) -> dict[str, float | None]:
    """Bias-corrected sample skewness (n ≥ 3) and excess kurtosis (n ≥ 4)."""
    n = len(r)
    c = r - r.mean()
    # numpy scalars, so a variance that underflows gives inf/NaN (→ None), not an exception.
    c2 = c * c
    m2 = np.mean(c2)
    if n < 3 or m2 == 0.0 or r.min() == r.max():
        return {"skew": None, "kurtosis": None}
    g1 = np.mean(c2 * c) / m2**1.5
    skew = g1 * math.sqrt(n * (n - 1)) / (n - 2)
    kurt = None
    if n >= 4:
        g2 = np.mean(c2 * c2) / (m2 * m2) - 3.0
        kurt = ((n + 1) * g2 + 6.0) * (n - 1) / ((n - 2) * (n - 3))
    return {"skew": _num(skew), "kurtosis": _num(kurt)}


def _risk_adjusted(r: Floats, ppy: float, rf: float) -> dict[str, float | None]:
    """Volatility, Sharpe and Sortino (sample std, annualised by √periods_per_year)."""
    if len(r) < 2:
        return {"volatility": None, "sharpe": None, "sortino": None}
    x = r - rf
    constant = bool(r.min() == r.max())
    std = 0.0 if constant else float(np.std(x, ddof=1))
    downside = math.sqrt(float(np.mean(np.minimum(x, 0.0) ** 2)))
    root = math.sqrt(ppy)
    return {
        "volatility": _num(std * root),
        "sharpe": None if constant else _div(float(np.mean(x)) * root, std),
        "sortino": _div(float(np.mean(x)) * root, downside),
    }


def _versus(r: Floats, b: Floats, ppy: float, rf: float) -> dict[str, float | None]:
    """Beta, alpha, correlation, information ratio and tracking error against ``b``."""
    if len(r) < 2:
        return {}
    xr, xb = r - rf, b - rf
    cb = xb - xb.mean()
    var_b = float(np.mean(cb * cb))
    beta = float(np.mean(cb * xr)) / var_b if var_b >= _VARIANCE_FLOOR else None
    alpha = None
    if beta is not None:
        alpha = _num((1.0 + float(np.mean(xr - beta * xb))) ** ppy - 1.0)
    cr = r - r.mean()
    var_r = float(np.mean(cr * cr))
    corr = None
    if var_b > 0.0 and var_r > 0.0 and r.min() != r.max() and b.min() != b.max():
        corr = _div(float(np.mean(cr * cb)), math.sqrt(var_b) * math.sqrt(var_r))
    active = r - b
    flat = bool(active.min() == active.max())
    te = 0.0 if flat else float(np.std(active, ddof=1))
    root = math.sqrt(ppy)
    return {
        "beta": _num(beta),
        "alpha": alpha,
        "correlation": corr,
        "tracking_error": _num(te * root),
        "information_ratio": None if flat else _div(float(np.mean(active)) * root, te),
    }


def performance(
    returns: Iterable[float],
    *,
    periods_per_year: float = DEFAULT_PERIODS_PER_YEAR,
    rf: float = 0.0,
    benchmark: Iterable[float] | None = None,
) -> Performance:
    """Compute the tear-sheet statistics of a simple per-period return series in O(n).

    Args:
        returns: per-period simple returns (fractions: 0.01 = +1 %).
        periods_per_year: periods in a year, for annualising (252 for trading days).
        rf: risk-free return per period, subtracted for Sharpe, Sortino, alpha and beta.
        benchmark: the benchmark's returns over the same periods (same length); pairs where
            either side is not finite are dropped.

    Returns:
        The statistics; benchmark-relative ones stay None without a benchmark.

    Raises:
        ValueError: ``periods_per_year`` is not finite and > 0, ``rf`` is not finite, or the
            benchmark's length differs.
    """
    if not (math.isfinite(periods_per_year) and periods_per_year > 0):
        raise ValueError("periods_per_year must be a finite number > 0")
    if not math.isfinite(rf):
        raise ValueError("rf must be finite")
    raw = np.asarray(returns if isinstance(returns, np.ndarray) else list(returns), dtype=float)
    bench: Floats | None = None
    if benchmark is not None:
        bench = np.asarray(benchmark if isinstance(benchmark, np.ndarray) else list(benchmark),
                           dtype=float)
        if len(bench) != len(raw):
            raise ValueError(f"benchmark has {len(bench)} periods, returns have {len(raw)}")
        keep = np.isfinite(raw) & np.isfinite(bench)
        raw, bench = raw[keep], bench[keep]
    r = raw[np.isfinite(raw)]
    n = len(r)
    if n == 0:
        return Performance(periods=0, periods_per_year=float(periods_per_year))
    with np.errstate(all="ignore"):
        growth = _num(float(np.prod(1.0 + r)))
        total = None if growth is None else growth - 1.0
        cagr = None
        if growth is not None and growth > 0.0:
            try:
                cagr = _num(growth ** (periods_per_year / n) - 1.0)
            except OverflowError:
                cagr = None
        episodes = drawdown_episodes(r)
        deepest = min(episodes, key=lambda e: e.depth) if episodes else None
        mdd = deepest.depth if deepest else 0.0
        stats: dict[str, float | None] = {
            **_risk_adjusted(r, periods_per_year, rf),
            **_tail_stats(r),
            **_moments(r),
            **(_versus(r, bench, periods_per_year, rf) if bench is not None else {}),
        }
    return Performance(
        periods=n,
        periods_per_year=float(periods_per_year),
        total_return=_num(total),
        cagr=cagr,
        calmar=_div(cagr, abs(mdd)),
        max_drawdown=_num(mdd),
        max_drawdown_length=deepest.length if deepest else 0,
        max_drawdown_recovery=(
            None if deepest is None or deepest.recovery is None
            else deepest.recovery - deepest.trough),
        longest_drawdown=max((e.length for e in episodes), default=0),
        **stats,
    )
