"""The HTML tear sheet: header with the run's parameters, charts with axes, metric tables."""

from __future__ import annotations

import html
import math

import numpy as np

from app.metrics.alpha import METRIC_KEYS
from app.metrics.timeseries import drawdown_curve, equity_curve, rolling_sharpe, rolling_volatility
from app.sdk.chart_axes import fmt_value
from app.sdk.charts import PALETTE, Line, heatmap, histogram, line_chart
from app.sdk.report_data import (
    BENCHMARK_ONLY,
    METRIC_DESCRIPTIONS,
    STAT_ROWS,
    Report,
    stat_text,
)
from app.sdk.report_page import card, page, params_list, table

__all__ = ["CHART_WIDTH", "render_html", "rolling_window"]

CHART_WIDTH = 820
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_STRATEGY, _BENCH = PALETTE[0], PALETTE[1]


def rolling_window(periods: int, periods_per_year: float) -> int | None:
    """Half a year of periods (126 for daily data), shortened for short series; None if < 20."""
    half_year = max(2, round(periods_per_year / 2))
    if periods >= 2 * half_year:
        return half_year
    return max(5, periods // 4) if periods >= 20 else None


def _tone(value: float | None) -> str:
    if value is None or value == 0:
        return ""
    return "up" if value > 0 else "down"


def _cards(report: Report) -> str:
    p, b = report.performance, report.benchmark
    picks = (("Total return", "total_return", "pct"), ("CAGR", "cagr", "pct"),
             ("Sharpe", "sharpe", "ratio"), ("Max drawdown", "max_drawdown", "pct"),
             ("Volatility", "volatility", "pct"), ("Win rate", "win_rate", "pct"))
    out = []
    for label, key, unit in picks:
        value = getattr(p, key)
        bench = None if b is None else f"benchmark {fmt_value(getattr(b, key), unit)}"
        tone = _tone(value) if key in ("total_return", "cagr", "sharpe") else ""
        out.append(card(label, fmt_value(value, unit), tone=tone, bench=bench))
    return f'<div class="cards">{"".join(out)}</div>'


def _x(report: Report) -> tuple[np.ndarray, bool, str]:
    """X positions of the equity points 0 … n: Unix seconds when dated, else period numbers."""
    if report.dates is None or report.start is None:
        return np.arange(report.periods + 1, dtype=float), False, "period"
    moments = np.concatenate(([report.start], report.dates)).astype("datetime64[s]")
    return moments.astype(np.int64).astype(float), True, "date (UTC)"


def _charts(report: Report) -> list[str]:
    xs, timed, x_title = _x(report)
    bench = report.benchmark_returns
    name = report.benchmark_name or "benchmark"

    def chart(key: str, title: str, lines: list[Line], unit: str, y_title: str,
              height: int = 300) -> str:
        return line_chart(key, title, lines, y_unit=unit, y_title=y_title, x_time=timed,
                          x_title=x_title, width=CHART_WIDTH, height=height)

    lines = [Line("strategy", xs, equity_curve(report.returns) - 1.0, _STRATEGY)]
    if bench is not None:
        lines.append(Line(name, xs, equity_curve(bench) - 1.0, _BENCH))
    out = [chart("cumulative", "Cumulative return", lines, "pct", "cumulative return (%)")]
    out.append(chart("drawdown", "Underwater (drawdown from the running peak)",
                     [Line("strategy", xs, drawdown_curve(report.returns), PALETTE[2],
                           fill=True)], "pct", "drawdown (%)", height=240))
    if report.monthly:
        out.append(_heatmap(report))
    window = rolling_window(report.periods, report.periods_per_year)
    if window is not None:
        ends = xs[window:]
        ppy, rf = report.periods_per_year, report.rf
        sharpe = [Line("strategy", ends, rolling_sharpe(report.returns, window, ppy, rf),
                       _STRATEGY)]
        vol = [Line("strategy", ends, rolling_volatility(report.returns, window, ppy),
                    _STRATEGY)]
        if bench is not None:
            sharpe.append(Line(name, ends, rolling_sharpe(bench, window, ppy, rf), _BENCH,
                               dash=True))
            vol.append(Line(name, ends, rolling_volatility(bench, window, ppy), _BENCH,
                            dash=True))
        out.append(chart("rolling-sharpe", f"Rolling Sharpe ratio ({window}-period window)",
                         sharpe, "ratio", "annualised Sharpe", height=240))
        out.append(chart("rolling-volatility", f"Rolling volatility ({window}-period window)",
                         vol, "pct", "annualised volatility (%)", height=240))
    p = report.performance
    markers = [("mean", float(np.mean(report.returns)), PALETTE[3])]
    if p.var is not None:
        markers.append(("VaR 95 %", p.var, PALETTE[2]))
    if p.cvar is not None:
        markers.append(("CVaR 95 %", p.cvar, "#7f1d1d"))
    out.append(histogram("distribution", "Distribution of period returns", report.returns,
                         markers=markers, width=CHART_WIDTH))
    return out


def _heatmap(report: Report) -> str:
    years = sorted({y for y, _, _ in report.monthly})
    grid: dict[int, list[float | None]] = {y: [None] * 13 for y in years}
    for y, m, v in report.monthly:
        grid[y][m - 1] = v
    for y, v, _ in report.yearly:
        grid[y][12] = v
    return heatmap("monthly", "Monthly returns (%)", [str(y) for y in years],
                   [*_MONTHS, "Year"], [grid[y] for y in years], x_title="month",
                   y_title="year", width=CHART_WIDTH)


def _stats_table(report: Report) -> str:
    has_bench = report.benchmark is not None
    rows = []
    for key, label, unit in STAT_ROWS:
        if key in BENCHMARK_ONLY and not has_bench:
            continue
        row = [label, stat_text(report.performance, key, unit)]
        if has_bench:
            row.append("—" if key in BENCHMARK_ONLY else stat_text(report.benchmark, key, unit))
        rows.append(row)
    headers = ["", "Strategy"] + ([report.benchmark_name or "Benchmark"] if has_bench else [])
    return table(headers, rows, numeric=(1, 2))


def _side(report: Report) -> str:
    parts = ['<section class="panel"><h2>Key metrics</h2>', _stats_table(report),
             f'<p class="note">Annualised with {fmt_value(report.periods_per_year, "count")} '
             f"periods per year ({report.periods_per_year_source}). Win rate counts only "
             "periods with a non-zero return.</p></section>"]
    if report.drawdowns:
        dated = report.dates is not None
        rows = [[d.peak, d.trough, d.recovery or "ongoing", fmt_value(d.depth, "pct"),
                 str(d.days if dated and d.days is not None else d.periods)]
                for d in report.drawdowns]
        parts += ['<section class="panel"><h2>Worst drawdowns</h2>',
                  table(["Peak", "Trough", "Recovered", "Depth", "Days" if dated else "Periods"],
                        rows, numeric=(3, 4), cls="dates"), "</section>"]
    if report.yearly:
        rows = [[str(y), fmt_value(v, "pct"), fmt_value(b, "pct")]
                for y, v, b in report.yearly]
        headers = ["Year", "Strategy", report.benchmark_name or "Benchmark"]
        if report.benchmark is None:
            rows, headers = [r[:2] for r in rows], headers[:2]
        parts += ['<section class="panel"><h2>Yearly returns</h2>',
                  table(headers, rows, numeric=(1, 2)), "</section>"]
    wire = [[f"{k.split('.', 1)[1]}", _wire(report.metrics[k]), METRIC_DESCRIPTIONS[k]]
            for k in METRIC_KEYS]
    parts += ['<section class="panel"><h2>Wire metrics (alpha_performance, per period)</h2>',
              table(["metric", "value", "meaning"], wire, numeric=(1,)),
              '<p class="note">What WorldService puts in v2 plans: per period, not '
              "annualised; — means undefined (sent as 0.0).</p></section>"]
    return "".join(parts)


def _wire(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:.6f}" if abs(value) < 1e6 else f"{value:.6g}"


def render_html(report: Report) -> str:
    """Render the tear sheet: one self-contained HTML page (inline CSS and SVG, no script)."""
    sub = (f"{report.periods} periods"
           + (f", {report.dropped} non-finite dropped" if report.dropped else ""))
    header = (f'<header class="sheet"><h1>{html.escape(report.title)}</h1><p class="sub">{sub}</p>'
              f"{params_list(report.params)}</header>")
    if report.periods == 0:
        body = header + '<section class="panel"><p>No finite return to report on.</p></section>'
        return page(report.title, body)
    charts = "".join(f'<section class="panel">{c}</section>' for c in _charts(report))
    body = (f"{header}{_cards(report)}<div class=\"layout\"><div>{charts}</div>"
            f"<aside>{_side(report)}</aside></div><footer>Worldgate tear sheet. Returns are "
            "simple per-period returns after transaction costs; percentages are of equity."
            "</footer>")
    return page(report.title, body)
