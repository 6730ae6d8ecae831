"""Inline SVG charts for the reports: lines and areas, a heatmap and a histogram, with axes.

Every chart is one ``<svg class="chart">`` with an x and a y axis (``g.axis``, ticks as
``g.tick``), gridlines, titled axes and, where there are several series, a legend. Styling
(fonts, colours of axes and grid) comes from the page's stylesheet.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from app.sdk.chart_axes import fmt_value, nice_range, nice_ticks, time_ticks

__all__ = ["PALETTE", "Line", "decimate", "heatmap", "histogram", "line_chart"]

Floats = NDArray[np.float64]
PALETTE = ("#2563eb", "#6b7280", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2",
           "#ca8a04", "#db2777", "#4b5563", "#65a30d", "#7c3aed")
_CHAR = 6.6  # average width of a 12 px label character, for laying out the legend


@dataclass(frozen=True, slots=True)
class Line:
    """One series of a line chart; NaN in ``ys`` leaves a gap."""

    name: str
    xs: Floats
    ys: Floats
    color: str
    fill: bool = False
    dash: bool = False
    markers: bool = False


@dataclass(frozen=True, slots=True)
class _Frame:
    width: int
    height: int
    left: int = 70
    right: int = 20
    top: int = 44
    bottom: int = 46

    @property
    def x0(self) -> float:
        return float(self.left)

    @property
    def x1(self) -> float:
        return float(self.width - self.right)

    @property
    def y0(self) -> float:
        return float(self.height - self.bottom)

    @property
    def y1(self) -> float:
        return float(self.top)


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def decimate(xs: Floats, ys: Floats, max_points: int) -> tuple[Floats, Floats]:
    """Keep each bucket's lowest and highest point (in time order): the shape survives, O(n)."""
    n = len(xs)
    if n <= max_points:
        return xs, ys
    bucket = math.ceil(n / max(2, max_points // 2))
    pad = (-n) % bucket
    filled = np.concatenate((ys, np.full(pad, np.nan))).reshape(-1, bucket)
    base = np.arange(0, n + pad, bucket)
    lows = base + np.argmin(np.where(np.isnan(filled), np.inf, filled), axis=1)
    highs = base + np.argmax(np.where(np.isnan(filled), -np.inf, filled), axis=1)
    keep = np.unique(np.concatenate((lows, highs, [0, n - 1])))
    keep = keep[keep < n]
    return xs[keep], ys[keep]


def _open(frame: _Frame, name: str, title: str) -> list[str]:
    return [
        f'<svg class="chart" data-chart="{_e(name)}" viewBox="0 0 {frame.width} '
        f'{frame.height}" role="img" aria-label="{_e(title)}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{_e(title)}</title>',
        f'<text class="chart-title" x="12" y="20">{_e(title)}</text>',
    ]


def _legend(frame: _Frame, items: Sequence[tuple[str, str, bool]]) -> str:
    """Swatches and names, right-aligned above the plot."""
    parts = ['<g class="legend">']
    x = frame.x1
    for name, color, dash in reversed(items):
        x -= len(name) * _CHAR + 8
        parts.append(f'<text x="{x:.1f}" y="36">{_e(name)}</text>')
        x -= 22
        style = ' stroke-dasharray="4 3"' if dash else ""
        parts.append(f'<line x1="{x:.1f}" y1="32" x2="{x + 16:.1f}" y2="32" stroke="{color}" '
                     f'stroke-width="3"{style}/>')
        x -= 14
    parts.append("</g>")
    return "".join(parts)


def _y_axis(frame: _Frame, ticks: Sequence[tuple[float, str]], lo: float, hi: float,
            title: str) -> str:
    def y(v: float) -> float:
        return frame.y0 - (v - lo) / (hi - lo) * (frame.y0 - frame.y1)

    grid = "".join(f'<line x1="{frame.x0}" x2="{frame.x1}" y1="{y(v):.1f}" y2="{y(v):.1f}"/>'
                   for v, _ in ticks)
    marks = "".join(
        f'<g class="tick"><line x1="{frame.x0 - 5}" x2="{frame.x0}" y1="{y(v):.1f}" '
        f'y2="{y(v):.1f}"/><text x="{frame.x0 - 8}" y="{y(v) + 4:.1f}" '
        f'text-anchor="end">{_e(label)}</text></g>' for v, label in ticks)
    mid = (frame.y0 + frame.y1) / 2
    return (f'<g class="grid">{grid}</g><g class="axis y-axis"><line class="domain" '
            f'x1="{frame.x0}" x2="{frame.x0}" y1="{frame.y1}" y2="{frame.y0}"/>{marks}'
            f'<text class="axis-title" transform="translate(16 {mid:.1f}) rotate(-90)" '
            f'text-anchor="middle">{_e(title)}</text></g>')


def _x_axis(frame: _Frame, ticks: Sequence[tuple[float, str]], lo: float, hi: float,
            title: str, *, grid: bool = True) -> str:
    def x(v: float) -> float:
        return frame.x0 + (v - lo) / (hi - lo) * (frame.x1 - frame.x0)

    lines = "".join(f'<line x1="{x(v):.1f}" x2="{x(v):.1f}" y1="{frame.y1}" y2="{frame.y0}"/>'
                    for v, _ in ticks) if grid else ""
    marks = "".join(
        f'<g class="tick"><line x1="{x(v):.1f}" x2="{x(v):.1f}" y1="{frame.y0}" '
        f'y2="{frame.y0 + 5}"/><text x="{x(v):.1f}" y="{frame.y0 + 18}" '
        f'text-anchor="middle">{_e(label)}</text></g>' for v, label in ticks)
    mid = (frame.x0 + frame.x1) / 2
    return (f'<g class="grid">{lines}</g><g class="axis x-axis"><line class="domain" '
            f'x1="{frame.x0}" x2="{frame.x1}" y1="{frame.y0}" y2="{frame.y0}"/>{marks}'
            f'<text class="axis-title" x="{mid:.1f}" y="{frame.height - 6}" '
            f'text-anchor="middle">{_e(title)}</text></g>')


def _segments(px: Floats, py: Floats) -> list[tuple[Floats, Floats]]:
    """Runs of finite points (a NaN breaks the line)."""
    ok = np.isfinite(py)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], ok.astype(np.int8), [0]))))
    return [(px[a:b], py[a:b]) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def _points(px: Floats, py: Floats) -> str:
    return "L".join(f"{x:.1f},{y:.1f}" for x, y in zip(px.tolist(), py.tolist(), strict=True))


def _draw(line: Line, px: Floats, py: Floats, zero: float) -> str:
    parts = []
    for sx, sy in _segments(px, py):
        if line.fill:
            parts.append(f'<path class="area" fill="{line.color}" d="M{sx[0]:.1f},{zero:.1f}'
                         f'L{_points(sx, sy)}L{sx[-1]:.1f},{zero:.1f}Z"/>')
        style = ' stroke-dasharray="5 4"' if line.dash else ""
        parts.append(f'<path class="line" stroke="{line.color}"{style} d="M{_points(sx, sy)}"/>')
        if line.markers:
            parts.extend(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{line.color}"/>'
                         for x, y in zip(sx.tolist(), sy.tolist(), strict=True))
    return "".join(parts)


def line_chart(
    name: str, title: str, lines: Sequence[Line], *, y_unit: str, y_title: str,
    x_time: bool, x_title: str, width: int = 960, height: int = 300, max_points: int = 1500,
) -> str:
    """A chart of one or more series over a shared x axis (time or period number).

    Args:
        name: the chart's ``data-chart`` id.
        title: its title.
        lines: the series; a zero line is drawn when the y range crosses zero.
        y_unit: ``pct``, ``ratio`` or ``count`` (how y ticks are printed).
        y_title: the y axis title (with its unit).
        x_time: the xs are Unix seconds (calendar ticks) rather than numbers.
        x_title: the x axis title.
        width: view-box width.
        height: view-box height.
        max_points: most points drawn per series (see ``decimate``).
    """
    frame = _Frame(width, height)
    kept = [decimate(ln.xs, ln.ys, max_points) for ln in lines]
    xs_all = np.concatenate([k[0] for k in kept]) if kept else np.empty(0)
    ys_all = np.concatenate([k[1] for k in kept]) if kept else np.empty(0)
    ys_ok = ys_all[np.isfinite(ys_all)]
    filled = any(ln.fill for ln in lines)
    y_lo, y_hi = nice_range(float(ys_ok.min()) if len(ys_ok) else 0.0,
                            float(ys_ok.max()) if len(ys_ok) else 1.0, include_zero=filled)
    values, step = nice_ticks(y_lo, y_hi)
    y_lo, y_hi = values[0], values[-1]
    y_ticks = [(v, fmt_value(v, y_unit, step=step)) for v in values]
    x_lo = float(xs_all.min()) if len(xs_all) else 0.0
    x_hi = float(xs_all.max()) if len(xs_all) else 1.0
    if x_hi - x_lo < 1.0:
        # One point (or one moment): half an hour either side on a time axis, else 1.
        pad = 1800.0 if x_time else 1.0
        x_lo, x_hi = x_lo - pad, x_hi + pad
    if x_time:
        x_ticks = time_ticks(x_lo, x_hi)
    else:
        # Non-time x axes count periods or plans: ticks fall on whole numbers.
        xv, xstep = nice_ticks(x_lo, x_hi, 8)
        if xstep < 1:
            xv = [float(v) for v in range(math.ceil(x_lo), math.floor(x_hi) + 1)]
        x_ticks = [(v, fmt_value(v, "count")) for v in xv if x_lo <= v <= x_hi]
    parts = _open(frame, name, title)
    parts.append(_y_axis(frame, y_ticks, y_lo, y_hi, y_title))
    parts.append(_x_axis(frame, x_ticks, x_lo, x_hi, x_title))

    def to_px(xs: Floats, ys: Floats) -> tuple[Floats, Floats]:
        px = frame.x0 + (xs - x_lo) / (x_hi - x_lo) * (frame.x1 - frame.x0)
        py = frame.y0 - (ys - y_lo) / (y_hi - y_lo) * (frame.y0 - frame.y1)
        return px, py

    zero = frame.y0 - (0.0 - y_lo) / (y_hi - y_lo) * (frame.y0 - frame.y1)
    parts.append('<g class="plot">')
    for line, (xs, ys) in zip(lines, kept, strict=True):
        parts.append(_draw(line, *to_px(xs, ys), zero))
    if y_lo < 0.0 < y_hi:
        parts.append(f'<line class="zero" x1="{frame.x0}" x2="{frame.x1}" y1="{zero:.1f}" '
                     f'y2="{zero:.1f}"/>')
    parts.append("</g>")
    if len(lines) > 1 or lines and lines[0].name:
        parts.append(_legend(frame, [(ln.name, ln.color, ln.dash) for ln in lines]))
    parts.append("</svg>")
    return "".join(parts)


def _cell_color(value: float, vmax: float) -> str:
    """White to green for gains, white to red for losses, by size relative to ``vmax``."""
    t = min(1.0, abs(value) / vmax) if vmax > 0 else 0.0
    target = (22, 163, 74) if value >= 0 else (220, 38, 38)
    rgb = [round(255 + (c - 255) * t * 0.85) for c in target]
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def heatmap(
    name: str, title: str, rows: Sequence[str], cols: Sequence[str],
    values: Sequence[Sequence[float | None]], *, x_title: str, y_title: str,
    width: int = 960,
) -> str:
    """A table of coloured cells (rows × cols) with the value printed in each (percent)."""
    frame = _Frame(width, 82 + 30 * max(1, len(rows)), top=52, bottom=30, left=70)
    cw = (frame.x1 - frame.x0) / max(1, len(cols))
    ch = (frame.y0 - frame.y1) / max(1, len(rows))
    vmax = max((abs(v) for row in values for v in row if v is not None), default=0.0)
    parts = _open(frame, name, title)
    parts.append('<g class="plot">')
    for i, (label, row) in enumerate(zip(rows, values, strict=True)):
        for j, value in enumerate(row):
            x, y = frame.x0 + j * cw, frame.y1 + i * ch
            if value is None:
                continue
            text = fmt_value(value, "pct", digits=1)
            parts.append(
                f'<rect class="cell" x="{x:.1f}" y="{y:.1f}" width="{cw - 2:.1f}" '
                f'height="{ch - 2:.1f}" fill="{_cell_color(value, vmax)}"><title>'
                f'{_e(cols[j])} {_e(label)}: {text}</title></rect><text class="cell-label" '
                f'x="{x + cw / 2 - 1:.1f}" y="{y + ch / 2 + 3:.1f}" text-anchor="middle">'
                f'{text}</text>')
    parts.append("</g>")
    x_ticks = "".join(
        f'<g class="tick"><text x="{frame.x0 + (j + 0.5) * cw:.1f}" y="{frame.y1 - 6}" '
        f'text-anchor="middle">{_e(c)}</text></g>' for j, c in enumerate(cols))
    y_ticks = "".join(
        f'<g class="tick"><text x="{frame.x0 - 8}" y="{frame.y1 + (i + 0.5) * ch + 4:.1f}" '
        f'text-anchor="end">{_e(r)}</text></g>' for i, r in enumerate(rows))
    parts.append(f'<g class="axis x-axis" aria-label="{_e(x_title)}">{x_ticks}</g>'
                 f'<g class="axis y-axis" aria-label="{_e(y_title)}">{y_ticks}</g></svg>')
    return "".join(parts)


def histogram(
    name: str, title: str, values: Floats, *, markers: Sequence[tuple[str, float, str]],
    bins: int | None = None, width: int = 960, height: int = 280,
) -> str:
    """Counts of returns per bin (x in percent) with labelled vertical marker lines."""
    frame = _Frame(width, height)
    finite = values[np.isfinite(values)]
    if len(finite) == 0:
        finite = np.zeros(1)
    count = bins or int(min(60, max(10, math.sqrt(len(finite)) * 2)))
    lo, hi = nice_range(float(finite.min()), float(finite.max()))
    counts, edges = np.histogram(finite, bins=count, range=(lo, hi))
    yv, ystep = nice_ticks(0.0, float(max(1, counts.max())))
    xv, xstep = nice_ticks(lo, hi, 8)
    x_lo, x_hi, y_hi = xv[0], xv[-1], yv[-1]

    def x(v: float) -> float:
        return frame.x0 + (v - x_lo) / (x_hi - x_lo) * (frame.x1 - frame.x0)

    def y(v: float) -> float:
        return frame.y0 - v / y_hi * (frame.y0 - frame.y1)

    parts = _open(frame, name, title)
    parts.append(_y_axis(frame, [(v, fmt_value(v, "count")) for v in yv], 0.0, y_hi,
                         "periods"))
    parts.append(_x_axis(frame, [(v, fmt_value(v, "pct", step=xstep)) for v in xv], x_lo, x_hi,
                         "return per period (%)", grid=False))
    parts.append('<g class="plot">')
    for c, a, b in zip(counts.tolist(), edges[:-1].tolist(), edges[1:].tolist(), strict=True):
        if c:
            parts.append(f'<rect class="bar" x="{x(a):.1f}" y="{y(c):.1f}" '
                         f'width="{max(0.5, x(b) - x(a) - 1):.1f}" height="{y(0) - y(c):.1f}">'
                         f'<title>{fmt_value(a, "pct")} to {fmt_value(b, "pct")}: {c}</title>'
                         f'</rect>')
    for _label, at, color in markers:
        if math.isfinite(at):
            parts.append(f'<line class="marker" x1="{x(at):.1f}" x2="{x(at):.1f}" '
                         f'y1="{frame.y1}" y2="{frame.y0}" stroke="{color}" '
                         f'stroke-dasharray="5 4"/>')
    parts.append("</g>")
    parts.append(_legend(frame, [("returns", "#93c5fd", False),
                                 *((lbl, col, True) for lbl, _, col in markers)]))
    parts.append("</svg>")
    return "".join(parts)
