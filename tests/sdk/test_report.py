"""Reports: numbers equal the metrics modules'; markdown, JSON and a self-contained tear sheet."""

from __future__ import annotations

import math
import re
from pathlib import Path

import msgspec
import numpy as np
import pytest

from app.metrics.alpha import METRIC_KEYS, compute_metrics_raw
from app.metrics.performance import performance
from app.sdk.io import InputError
from app.sdk.report import build_report, render_html, render_json, render_markdown, write_report
from app.sdk.series import ReturnSeries, returns_series

CHARTS = {"cumulative", "drawdown", "monthly", "rolling-sharpe", "rolling-volatility",
          "distribution"}

REFERENCE = [0.1, -0.05, 0.2]


def test_report_numbers_equal_metrics_module() -> None:
    series = [0.01, -0.02, math.nan, 0.03, -0.01, 0.005]
    rep = build_report(series, rf=0.001, transaction_cost=0.0005)
    assert rep.metrics == compute_metrics_raw(series, rf=0.001, transaction_cost=0.0005)
    assert rep.periods == 5 and rep.dropped == 1
    equity = math.prod(1 + r - 0.0005 for r in series if math.isfinite(r))
    assert rep.final_equity == pytest.approx(equity)


def test_markdown_shows_reference_values_and_undefined() -> None:
    text = render_markdown(build_report(REFERENCE))
    assert "| `alpha_performance.sharpe` | 0.811107 |" in text
    assert "| `alpha_performance.profit_factor` | 6.000000 |" in text
    flat = render_markdown(build_report([0.01, 0.01]))
    assert "| `alpha_performance.sharpe` | undefined |" in flat


def test_json_report_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "out" / "r.json"
    assert write_report(build_report(REFERENCE), path) == "json"
    data = msgspec.json.decode(path.read_bytes())
    assert data["metrics"] == compute_metrics_raw(REFERENCE)
    assert data["curve"][0] == {"t": 0, "equity": 1.0, "drawdown": 0.0}
    assert data["curve"][-1]["t"] == 3


def _dated(n: int, seed: int = 7) -> ReturnSeries:
    rng = np.random.default_rng(seed)
    dates = np.arange(np.datetime64("2023-01-02"), np.datetime64("2023-01-02") + n)
    return ReturnSeries(rng.normal(0.0005, 0.01, n), dates.astype("datetime64[s]"))


def test_html_is_a_self_contained_tear_sheet() -> None:
    series = _dated(500)
    bench = ReturnSeries(series.values * 0.5 + 0.0001, series.dates)
    page = render_html(build_report(series, title="<b>mine</b>", benchmark=bench,
                                    benchmark_name="index", params={"strategy": "x"}))
    assert set(re.findall(r'data-chart="([^"]+)"', page)) == CHARTS
    assert "&lt;b&gt;mine&lt;/b&gt;" in page and "<b>mine</b>" not in page
    # Nothing to fetch: no script, no link, no src; the only URL is the SVG namespace.
    assert not re.search(r"<script|<link|src=|@import|url\(", page)
    assert set(re.findall(r"https?://[^\s\"']+", page)) == {"http://www.w3.org/2000/svg"}
    assert "<dt>strategy</dt><dd>x</dd>" in page and ">index<" in page
    assert len(page) < 400_000


def test_html_without_dates_uses_period_numbers() -> None:
    page = render_html(build_report(REFERENCE * 30))
    assert 'data-chart="monthly"' not in page and ">period<" in page


def test_curve_is_downsampled_but_keeps_worst_drawdown() -> None:
    series = [0.001] * 5000
    series[2500] = -0.5
    rep = build_report(series, max_points=100)
    assert len(rep.curve) <= 102
    assert min(p.drawdown for p in rep.curve) == pytest.approx(-0.5)
    assert rep.metrics["alpha_performance.max_drawdown"] == pytest.approx(-0.5)


def test_unknown_extension(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=".md, .json or .html"):
        write_report(build_report(REFERENCE), tmp_path / "r.txt")


def test_empty_series() -> None:
    rep = build_report([])
    assert rep.periods == 0 and rep.total_return == 0.0
    assert set(rep.metrics) == set(METRIC_KEYS)
    assert "No finite return" in render_html(rep)
    assert "| Total return | — |" in render_markdown(rep)


def test_statistics_equal_the_performance_module_after_costs() -> None:
    series = _dated(300)
    rep = build_report(series, rf=0.0001, transaction_cost=0.0002)
    assert rep.periods_per_year == 365.0 and rep.periods_per_year_source.startswith("inferred")
    want = performance(series.values - 0.0002, periods_per_year=365, rf=0.0001)
    assert rep.performance == want
    data = msgspec.json.decode(render_json(rep))
    assert data["performance"]["sharpe"] == want.sharpe
    assert data["start"] == "2023-01-02" and len(data["monthly"]) == 10


def test_big_numbers_print_short() -> None:
    # Percent-style input taken as fractions compounds to astronomic figures: they must
    # print as 1.23e45%, never as a 49-digit string.
    rep = build_report([1.5, -0.8, 2.0, 1.2] * 30)
    for text in (render_markdown(rep), render_html(rep)):
        assert not re.search(r"\d{13}", text)


def test_benchmark_aligns_by_date_or_position() -> None:
    series = _dated(40)
    later = ReturnSeries(series.values[10:] * 2, series.dates[10:])
    rep = build_report(series, benchmark=later)
    assert rep.periods == 30 and rep.performance.beta == pytest.approx(0.5)
    rep = build_report([0.01, -0.01, 0.02], benchmark=[0.02, -0.02, 0.04])
    assert rep.performance.beta == pytest.approx(0.5)
    with pytest.raises(InputError, match="same number of rows"):
        build_report([0.01, 0.02], benchmark=[0.01])
    elsewhere = ReturnSeries(np.array([0.01]), np.array(["2030-01-01"], dtype="datetime64[s]"))
    with pytest.raises(InputError, match="shares no date"):
        build_report(series, benchmark=elsewhere)


def test_drawdown_table_has_dates() -> None:
    series = returns_series([0.1, -0.2, 0.05, 0.3], ["2025-01-02", "2025-01-03", "2025-01-06",
                                                     "2025-01-07"], "x")
    rep = build_report(series)
    first = rep.drawdowns[0]
    assert (first.peak, first.trough, first.recovery) == ("2025-01-02", "2025-01-03",
                                                          "2025-01-07")
    assert first.days == 5 and first.periods == 3
