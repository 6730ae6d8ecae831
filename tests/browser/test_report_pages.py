"""Reports as a person sees them: rendered in Chromium, charts with drawn axes and labels.

Screenshots land in ``var/screenshots/`` (``tearsheet-backtest.png`` is the one shown in the
docs).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from app.cli import cli
from tests.browser_support import BrowserPage
from tests.sdk.conftest import EXAMPLES, V2_OVERRIDES, apply_plan_history

TEARSHEET_CHARTS = ["cumulative", "drawdown", "monthly", "rolling-sharpe",
                    "rolling-volatility", "distribution"]

# For every chart: its drawn tick labels per axis (non-empty, with a real size), whether the
# axis lines and titles exist, what the plot holds, and whether neighbouring x labels overlap.
CHART_PROBE = """() => Array.from(document.querySelectorAll('svg.chart')).map(svg => {
  const labels = axis => Array.from(svg.querySelectorAll(axis + ' .tick text'))
    .filter(t => t.textContent.trim() && t.getBBox().width > 0);
  const xs = labels('.x-axis').map(t => t.getBoundingClientRect())
    .sort((a, b) => a.left - b.left);
  const box = svg.getBoundingClientRect();
  return {
    name: svg.dataset.chart, width: box.width, height: box.height,
    x: labels('.x-axis').length, y: labels('.y-axis').length,
    domains: svg.querySelectorAll('.axis line.domain').length,
    titles: svg.querySelectorAll('.axis-title').length,
    legend: svg.querySelectorAll('.legend text').length,
    drawn: svg.querySelectorAll('.plot path, .plot rect, .plot circle').length,
    overlap: xs.some((r, i) => i > 0 && r.left < xs[i - 1].right),
  };
})"""


def _cli(*args: str) -> None:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output


def _charts(page: BrowserPage) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in page.page.evaluate(CHART_PROBE)}


def _assert_drawn(charts: dict[str, dict[str, Any]]) -> None:
    for name, c in charts.items():
        assert c["width"] > 300 and c["height"] > 100, name
        assert c["x"] >= 2 and c["y"] >= 1 and c["drawn"] > 0, c
        assert not c["overlap"], f"{name}: x tick labels overlap"
        if name != "monthly":  # the heatmap's axes are its month and year labels
            assert c["domains"] == 2 and c["titles"] == 2 and c["y"] >= 3, c


def _no_horizontal_scroll(page: BrowserPage) -> None:
    assert page.page.evaluate(
        "() => document.documentElement.scrollWidth <= window.innerWidth")


def test_backtest_tear_sheet(browser_page: BrowserPage, tmp_path: Path) -> None:
    _cli("backtest", "--prices", str(EXAMPLES / "prices.csv"), "--strategy", "sma_cross",
         "--cost-bps", "2", "--out", str(tmp_path))
    browser_page.open_file(tmp_path / "report.html")
    charts = _charts(browser_page)
    assert list(charts) == TEARSHEET_CHARTS
    _assert_drawn(charts)
    assert charts["cumulative"]["legend"] == 2  # strategy and buy & hold
    header = browser_page.page.inner_text("header.sheet")
    assert "sma_cross" in header and "2 bps per position change" in header
    assert "2025-01-02 → 2025-12-31" in header
    table = browser_page.page.inner_text("aside")
    assert "Win rate (non-flat periods)" in table and "Information ratio" in table
    # The page uses a sans-serif system font, not the browser's default serif.
    family = browser_page.page.evaluate("() => getComputedStyle(document.body).fontFamily")
    assert "sans-serif" in family and not family.startswith("serif")
    _no_horizontal_scroll(browser_page)
    browser_page.shot("tearsheet-backtest")


def test_returns_file_tear_sheet(browser_page: BrowserPage, tmp_path: Path) -> None:
    out = tmp_path / "returns.html"
    _cli("report", "--from", str(EXAMPLES / "returns.csv"), "--out", str(out))
    browser_page.open_file(out)
    charts = _charts(browser_page)
    assert list(charts) == TEARSHEET_CHARTS
    _assert_drawn(charts)
    browser_page.shot("tearsheet-returns")
    browser_page.page.set_viewport_size({"width": 760, "height": 900})
    _no_horizontal_scroll(browser_page)
    browser_page.shot("tearsheet-returns-narrow")


def test_deployment_report(browser_page: BrowserPage, live_server: Callable[..., str],
                           tmp_path: Path) -> None:
    url = live_server({**V2_OVERRIDES, "server": {"log_level": "error"}})
    apply_plan_history(url, 5)
    out = tmp_path / "plans.html"
    _cli("report", "--plans", "--url", url, "--out", str(out))
    browser_page.open_file(out)
    charts = _charts(browser_page)
    assert len(charts) == 6
    _assert_drawn(charts)
    assert all(c["legend"] == 2 for c in charts.values())  # one entry per world
    assert "hist-4" in browser_page.page.inner_text("body")
    _no_horizontal_scroll(browser_page)
    browser_page.shot("deployment-report")
