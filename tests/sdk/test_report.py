"""Reports: numbers equal the metrics module's; markdown, JSON and HTML with an SVG chart."""

from __future__ import annotations

import math
from pathlib import Path

import msgspec
import pytest

from app.metrics.alpha import METRIC_KEYS, compute_metrics_raw
from app.sdk.io import InputError
from app.sdk.report import build_report, render_html, render_markdown, write_report

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


def test_html_has_inline_svg_chart() -> None:
    page = render_html(build_report(REFERENCE, title="<b>mine</b>"))
    assert page.count("<svg") == 1 and "<polyline" in page and "<polygon" in page
    assert "&lt;b&gt;mine&lt;/b&gt;" in page and "<b>mine</b>" not in page


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
    assert "<svg" in render_html(rep)
