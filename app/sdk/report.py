"""Performance reports of a return series: markdown, JSON, and HTML with an inline SVG chart."""

from __future__ import annotations

import html
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import msgspec

from app.metrics.alpha import METRIC_KEYS, compute_metrics_raw
from app.sdk.io import InputError

__all__ = [
    "METRIC_DESCRIPTIONS",
    "Report",
    "build_report",
    "render_html",
    "render_json",
    "render_markdown",
    "report_format",
    "write_report",
]

METRIC_DESCRIPTIONS: dict[str, str] = {
    "alpha_performance.sharpe": "mean / population std of excess returns, per period",
    "alpha_performance.max_drawdown": "worst fall of compounded equity from its peak (≤ 0)",
    "alpha_performance.win_ratio": "share of periods with a positive net return",
    "alpha_performance.profit_factor": "sum of gains / abs(sum of losses)",
    "alpha_performance.car_mdd": "total compounded return / abs(max drawdown)",
    "alpha_performance.rar_mdd": "sharpe / abs(max drawdown)",
}


class CurvePoint(msgspec.Struct, frozen=True, array_like=True):
    """One chart point: period index, equity, drawdown (worst within its bucket)."""

    t: int
    equity: float
    drawdown: float


class Report(msgspec.Struct, frozen=True, kw_only=True):
    """A computed report: the six metrics plus a down-sampled equity/drawdown curve.

    ``metrics`` are the SDK values of ``compute_metrics_raw``: None means undefined (a zero
    denominator); reports print "undefined", never a fake 0.
    """

    title: str
    periods: int
    dropped: int
    rf: float
    transaction_cost: float
    final_equity: float
    total_return: float
    metrics: dict[str, float | None]
    curve: list[CurvePoint]


def build_report(
    returns: Iterable[float],
    *,
    title: str = "Returns report",
    rf: float = 0.0,
    transaction_cost: float = 0.0,
    max_points: int = 600,
) -> Report:
    """Compute a report in O(n): metrics from the metrics module, curve in one pass.

    Args:
        returns: per-period simple returns (non-finite entries are dropped and counted).
        title: the report title.
        rf: risk-free return per period (sharpe only).
        transaction_cost: cost subtracted from each period's return.
        max_points: most chart points kept (buckets keep their worst drawdown).

    Returns:
        The report.
    """
    values = [float(r) for r in returns]
    finite = [r for r in values if math.isfinite(r)]
    n = len(finite)
    bucket = max(1, math.ceil(n / max(1, max_points)))
    curve = [CurvePoint(0, 1.0, 0.0)]
    equity = peak = 1.0
    worst = 0.0
    for i, r in enumerate(finite, start=1):
        equity *= 1.0 + r - transaction_cost
        peak = max(peak, equity)
        dd = equity / peak - 1.0 if peak > 0 else -1.0
        worst = min(worst, dd)
        if i % bucket == 0 or i == n:
            curve.append(CurvePoint(i, equity, worst))
            worst = 0.0
    return Report(
        title=title,
        periods=n,
        dropped=len(values) - n,
        rf=rf,
        transaction_cost=transaction_cost,
        final_equity=equity,
        total_return=equity - 1.0,
        metrics=compute_metrics_raw(finite, rf=rf, transaction_cost=transaction_cost),
        curve=curve,
    )


def _fmt(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.6f}"


def render_markdown(report: Report) -> str:
    """Render the report as markdown (metrics table, per period, not annualised)."""
    lines = [
        f"# {report.title}",
        "",
        f"- periods: {report.periods} (non-finite dropped: {report.dropped})",
        f"- total return: {report.total_return:.6f} (final equity {report.final_equity:.6f})",
        f"- risk-free per period: {report.rf}, transaction cost per period: "
        f"{report.transaction_cost}",
        "",
        "| metric | value | meaning |",
        "|---|---:|---|",
    ]
    for key in METRIC_KEYS:
        lines.append(f"| `{key}` | {_fmt(report.metrics[key])} | {METRIC_DESCRIPTIONS[key]} |")
    lines += ["", "Values are per period, not annualised; *undefined* means a zero denominator."]
    return "\n".join(lines) + "\n"


def render_json(report: Report) -> str:
    """Render the report as JSON; undefined metrics are ``null``."""
    data: dict[str, Any] = msgspec.to_builtins(report)
    data["curve"] = [{"t": p.t, "equity": p.equity, "drawdown": p.drawdown}
                     for p in report.curve]
    return msgspec.json.format(msgspec.json.encode(data).decode(), indent=2) + "\n"


def _polyline(points: list[tuple[float, float]]) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in points)


def _svg(report: Report, width: int = 720, height: int = 320) -> str:
    """Equity (top panel) and drawdown (bottom panel, filled) as one inline SVG."""
    pad, gap = 40, 20
    panel = (height - 2 * pad - gap) / 2
    last_t = max(1, report.curve[-1].t)
    eq = [p.equity for p in report.curve]
    lo, hi = min(eq), max(eq)
    span = hi - lo or 1.0
    dd_lo = min(p.drawdown for p in report.curve) or -1.0

    def x(t: int) -> float:
        return pad + (width - 2 * pad) * t / last_t

    top = [(x(p.t), pad + panel * (hi - p.equity) / span) for p in report.curve]
    base = pad + panel + gap
    bottom = [(x(p.t), base + panel * p.drawdown / dd_lo) for p in report.curve]
    area = [(x(0), base), *bottom, (x(report.curve[-1].t), base)]
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="equity and drawdown">'
        f'<rect width="{width}" height="{height}" fill="#fff"/>'
        f'<text x="{pad}" y="{pad - 8}" font-size="12">equity ({lo:.4f} – {hi:.4f})</text>'
        f'<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="{_polyline(top)}"/>'
        f'<text x="{pad}" y="{base - 6}" font-size="12">drawdown (min {dd_lo:.4f})</text>'
        f'<line x1="{pad}" y1="{base}" x2="{width - pad}" y2="{base}" stroke="#999"/>'
        f'<polygon fill="#d62728" fill-opacity="0.35" stroke="#d62728" '
        f'points="{_polyline(area)}"/></svg>'
    )


def render_html(report: Report) -> str:
    """Render a standalone HTML page: metrics table and the inline SVG chart."""
    rows = "".join(
        f"<tr><td><code>{key}</code></td><td>{_fmt(report.metrics[key])}</td>"
        f"<td>{html.escape(METRIC_DESCRIPTIONS[key])}</td></tr>"
        for key in METRIC_KEYS
    )
    title = html.escape(report.title)
    return (
        f"<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>"
        f"<body><h1>{title}</h1><p>periods: {report.periods} (non-finite dropped: "
        f"{report.dropped}); total return: {report.total_return:.6f}</p>{_svg(report)}"
        f"<table><thead><tr><th>metric</th><th>value</th><th>meaning</th></tr></thead>"
        f"<tbody>{rows}</tbody></table><p>Values are per period, not annualised.</p>"
        f"</body></html>\n"
    )


_RENDERERS = {"md": render_markdown, "json": render_json, "html": render_html}
_SUFFIXES = {".md": "md", ".markdown": "md", ".json": "json", ".html": "html", ".htm": "html"}


def report_format(path: str | Path) -> str:
    """The format (md, json, html) named by a file's extension.

    Raises:
        InputError: the extension is not one of .md, .json, .html.
    """
    fmt = _SUFFIXES.get(Path(path).suffix.lower())
    if fmt is None:
        raise InputError(f"{path}: the report extension must be .md, .json or .html")
    return fmt


def write_report(report: Report, path: str | Path) -> str:
    """Write the report in the format its extension names; returns the format."""
    fmt = report_format(path)
    p = Path(path)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(_RENDERERS[fmt](report), encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write {p}: {exc.strerror or exc}") from exc
    return fmt
