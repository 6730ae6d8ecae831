"""The report model: a return series' tear-sheet numbers, curves and tables, built in O(n)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np

from app.metrics.alpha import compute_metrics_raw
from app.metrics.performance import (
    DEFAULT_PERIODS_PER_YEAR,
    Performance,
    drawdown_episodes,
    performance,
)
from app.metrics.timeseries import (
    calendar_returns,
    drawdown_curve,
    equity_curve,
    infer_periods_per_year,
)
from app.sdk.chart_axes import fmt_value
from app.sdk.series import ReturnSeries, align_benchmark, returns_series

__all__ = [
    "BENCHMARK_ONLY",
    "METRIC_DESCRIPTIONS",
    "STAT_ROWS",
    "CurvePoint",
    "DrawdownRow",
    "Report",
    "build_report",
    "iso_date",
    "report_summary",
    "stat_text",
]

METRIC_DESCRIPTIONS: dict[str, str] = {
    "alpha_performance.sharpe": "mean / population std of excess returns, per period",
    "alpha_performance.max_drawdown": "worst fall of compounded equity from its peak (≤ 0)",
    "alpha_performance.win_ratio": "share of all periods with a positive net return "
                                   "(flat periods count against it)",
    "alpha_performance.profit_factor": "sum of gains / abs(sum of losses)",
    "alpha_performance.car_mdd": "total compounded return / abs(max drawdown)",
    "alpha_performance.rar_mdd": "sharpe / abs(max drawdown)",
}

STAT_ROWS: tuple[tuple[str, str, str], ...] = (
    ("total_return", "Total return", "pct"),
    ("cagr", "CAGR", "pct"),
    ("volatility", "Volatility (annualised)", "pct"),
    ("sharpe", "Sharpe ratio", "ratio"),
    ("sortino", "Sortino ratio", "ratio"),
    ("calmar", "Calmar ratio", "ratio"),
    ("max_drawdown", "Max drawdown", "pct"),
    ("max_drawdown_length", "Max drawdown length (periods)", "periods"),
    ("max_drawdown_recovery", "Max drawdown recovery (periods)", "periods"),
    ("longest_drawdown", "Longest drawdown (periods)", "periods"),
    ("var", "VaR 95 % (historical, per period)", "pct"),
    ("cvar", "CVaR 95 % (per period)", "pct"),
    ("skew", "Skew", "ratio"),
    ("kurtosis", "Excess kurtosis", "ratio"),
    ("best", "Best period", "pct"),
    ("worst", "Worst period", "pct"),
    ("win_rate", "Win rate (non-flat periods)", "pct"),
    ("profit_factor", "Profit factor", "ratio"),
    ("tail_ratio", "Tail ratio", "ratio"),
    ("beta", "Beta", "ratio"),
    ("alpha", "Alpha (annualised)", "pct"),
    ("correlation", "Correlation", "ratio"),
    ("information_ratio", "Information ratio", "ratio"),
    ("tracking_error", "Tracking error (annualised)", "pct"),
)
"""The tear sheet's statistics in display order: attribute of ``Performance``, label, unit."""
BENCHMARK_ONLY = frozenset({"beta", "alpha", "correlation", "information_ratio",
                            "tracking_error"})


class CurvePoint(msgspec.Struct, frozen=True, array_like=True):
    """One down-sampled point: period index, equity, drawdown (worst within its bucket)."""

    t: int
    equity: float
    drawdown: float


class DrawdownRow(msgspec.Struct, frozen=True, kw_only=True):
    """One of the worst drawdowns, with dates when the input had them (else period numbers)."""

    peak: str
    trough: str
    recovery: str | None
    depth: float
    periods: int
    days: int | None


@dataclass(frozen=True)
class Report:
    """A computed report: the tear-sheet statistics, the six wire metrics and the series.

    ``metrics`` are the SDK values of ``compute_metrics_raw`` (the per-period wire metrics):
    None means undefined. ``performance`` holds the annualised tear-sheet statistics of the
    net returns (after ``transaction_cost``); ``benchmark`` the benchmark's own.
    """

    title: str
    params: dict[str, str]
    periods: int
    dropped: int
    rf: float
    transaction_cost: float
    periods_per_year: float
    periods_per_year_source: str
    final_equity: float
    total_return: float
    metrics: dict[str, float | None]
    performance: Performance
    curve: list[CurvePoint]
    returns: np.ndarray = field(repr=False)
    dates: np.ndarray | None = field(default=None, repr=False)
    start: np.datetime64 | None = None
    benchmark_name: str | None = None
    benchmark: Performance | None = None
    benchmark_returns: np.ndarray | None = field(default=None, repr=False)
    drawdowns: list[DrawdownRow] = field(default_factory=list)
    monthly: list[tuple[int, int, float]] = field(default_factory=list)
    yearly: list[tuple[int, float, float | None]] = field(default_factory=list)


def stat_text(stats: Performance | None, key: str, unit: str) -> str:
    """One statistic for display (``—`` when undefined or absent)."""
    if stats is None:
        return "—"
    value = getattr(stats, key)
    if key == "max_drawdown_recovery" and value is None and (stats.max_drawdown or 0.0) < 0:
        return "not recovered"
    return fmt_value(value, unit)


def iso_date(moment: np.datetime64) -> str:
    """``2025-01-02``, or ``2025-01-02 14:30`` when the moment is not midnight."""
    text = str(moment.astype("datetime64[m]"))
    return text[:10] if text.endswith("T00:00") else text.replace("T", " ")


def _curve(returns: np.ndarray, max_points: int) -> list[CurvePoint]:
    """The equity and drawdown at most ``max_points`` times; a bucket keeps its worst drawdown."""
    equity = equity_curve(returns)
    dd = drawdown_curve(returns)
    n = len(returns)
    bucket = max(1, math.ceil(n / max(1, max_points)))
    ends = list(range(bucket, n, bucket)) + ([n] if n else [])
    out = [CurvePoint(0, 1.0, 0.0)]
    prev = 1
    for end in ends:
        out.append(CurvePoint(end, float(equity[end]), float(dd[prev:end + 1].min())))
        prev = end + 1
    return out


def _drawdown_rows(series: ReturnSeries, start: np.datetime64 | None, top: int
                   ) -> list[DrawdownRow]:
    """The deepest drawdowns; a peak at the start is dated only when the input said when."""
    episodes = sorted(drawdown_episodes(series.values), key=lambda e: e.depth)[:top]
    dates = series.dates

    def at(i: int) -> tuple[str, np.datetime64 | None]:
        if dates is None:
            return ("start" if i == 0 else f"period {i}"), None
        if i == 0:
            return (iso_date(series.start) if series.start is not None else "start"), start
        return iso_date(dates[i - 1]), dates[i - 1]

    rows = []
    for e in episodes:
        peak, peak_at = at(e.peak)
        end_index = e.recovery if e.recovery is not None else len(series.values)
        end_at = at(end_index)[1]
        days = None
        if peak_at is not None and end_at is not None:
            days = int((end_at - peak_at) / np.timedelta64(1, "D"))
        rows.append(DrawdownRow(peak=peak, trough=at(e.trough)[0],
                                recovery=None if e.recovery is None else at(e.recovery)[0],
                                depth=e.depth, periods=e.length, days=days))
    return rows


def build_report(
    returns: Iterable[float] | ReturnSeries,
    *,
    title: str = "Returns report",
    rf: float = 0.0,
    transaction_cost: float = 0.0,
    max_points: int = 600,
    benchmark: ReturnSeries | Iterable[float] | None = None,
    benchmark_name: str | None = None,
    periods_per_year: float | None = None,
    params: Mapping[str, str] | None = None,
) -> Report:
    """Compute a report in O(n): the tear-sheet statistics, the six metrics and the curves.

    Args:
        returns: per-period simple returns (fractions), or a dated ``ReturnSeries``;
            non-finite entries are dropped and counted.
        title: the report title.
        rf: risk-free return per period (Sharpe, Sortino, alpha, beta).
        transaction_cost: cost subtracted from each period's return.
        max_points: most points of the JSON report's ``curve``.
        benchmark: the benchmark's returns (aligned by date when both are dated, else by
            position).
        benchmark_name: how the benchmark is labelled.
        periods_per_year: for annualising; default: inferred from the dates, else 252.
        params: the run's parameters, shown in the report's header.

    Returns:
        The report.

    Raises:
        InputError: the benchmark cannot be aligned with the returns.
    """
    series = returns if isinstance(returns, ReturnSeries) else returns_series(
        list(returns), None, "returns")
    bench_values = None
    if benchmark is not None:
        bench = benchmark if isinstance(benchmark, ReturnSeries) else returns_series(
            list(benchmark), None, "benchmark")
        series, bench_values = align_benchmark(series, bench)
    source = "given"
    if periods_per_year is None:
        inferred = infer_periods_per_year(series.dates) if series.dates is not None else None
        source = "inferred from the dates" if inferred else "default"
        periods_per_year = inferred or float(DEFAULT_PERIODS_PER_YEAR)
    net = series.values - transaction_cost
    stats = performance(net, periods_per_year=periods_per_year, rf=rf, benchmark=bench_values)
    bench_stats = None if bench_values is None else performance(
        bench_values, periods_per_year=periods_per_year, rf=rf)
    equity = float(equity_curve(net)[-1])
    monthly: list[tuple[int, int, float]] = []
    yearly: list[tuple[int, float, float | None]] = []
    if series.dates is not None:
        monthly, years = calendar_returns(net, series.dates)
        bench_years = dict(calendar_returns(bench_values, series.dates)[1]) \
            if bench_values is not None else {}
        yearly = [(y, v, bench_years.get(y)) for y, v in years]
    start = series.start
    if start is None and series.dates is not None and len(series.dates):
        # The equity's starting point needs a date on the charts: one step before the first.
        step = series.dates[1] - series.dates[0] if len(series.dates) > 1 else np.timedelta64(
            1, "D")
        start = series.dates[0] - step
    header = dict(params or {})
    if series.dates is not None and len(series.dates):
        header.setdefault("data range", f"{iso_date(series.dates[0])} → "
                                        f"{iso_date(series.dates[-1])}")
    return Report(
        title=title, params=header, periods=len(net), dropped=series.dropped, rf=rf,
        transaction_cost=transaction_cost, periods_per_year=periods_per_year,
        periods_per_year_source=source, final_equity=equity, total_return=equity - 1.0,
        metrics=compute_metrics_raw(series.values.tolist(), rf=rf,
                                    transaction_cost=transaction_cost),
        performance=stats, curve=_curve(net, max_points), returns=net, dates=series.dates,
        start=start, benchmark_name=benchmark_name if bench_values is not None else None,
        benchmark=bench_stats, benchmark_returns=bench_values,
        drawdowns=_drawdown_rows(ReturnSeries(net, series.dates, series.start), start, 5),
        monthly=monthly, yearly=yearly,
    )


def report_summary(report: Report) -> dict[str, Any]:
    """The report as JSON-ready builtins (what ``.json`` reports hold)."""
    return {
        "title": report.title,
        "params": report.params,
        "periods": report.periods,
        "dropped": report.dropped,
        "rf": report.rf,
        "transaction_cost": report.transaction_cost,
        "periods_per_year": report.periods_per_year,
        "periods_per_year_source": report.periods_per_year_source,
        "start": iso_date(report.dates[0]) if report.dates is not None and report.periods
        else None,
        "end": iso_date(report.dates[-1]) if report.dates is not None and report.periods
        else None,
        "final_equity": report.final_equity,
        "total_return": report.total_return,
        "metrics": report.metrics,
        "performance": msgspec.to_builtins(report.performance),
        "benchmark_name": report.benchmark_name,
        "benchmark": None if report.benchmark is None else msgspec.to_builtins(report.benchmark),
        "drawdowns": msgspec.to_builtins(report.drawdowns),
        "monthly": [{"year": y, "month": m, "return": v} for y, m, v in report.monthly],
        "yearly": [{"year": y, "return": v, "benchmark": b} for y, v, b in report.yearly],
        "curve": [{"t": p.t, "equity": p.equity, "drawdown": p.drawdown} for p in report.curve],
    }

