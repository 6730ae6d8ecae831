"""The plan preview's before/after weight chart: one inline SVG, drawn on the server.

Drawn here rather than in the browser so it follows the tear sheet's charts exactly: the same
``svg.chart`` structure (axes, ticks, titles, legend), the same stylesheet and the SDK's tick
helpers, and no script is needed to see it.
"""

from __future__ import annotations

from collections.abc import Mapping

from app.console.html import e
from app.sdk.chart_axes import fmt_value, nice_ticks

__all__ = ["weights_chart"]

_BEFORE, _AFTER, _TARGET = "#9ca3af", "#2563eb", "#dc2626"
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 20, 44, 58
_HEIGHT = 300


def _label(world: str, width: float) -> str:
    most = max(4, int(width / 6.6))
    return world if len(world) <= most else world[: most - 1] + "…"


def weights_chart(weights: Mapping[str, tuple[float, float, float]], *, width: int = 760) -> str:
    """Grouped bars per world: weight before and after the plan, and the target as a tick.

    Args:
        weights: ``{world: (before, after, target)}`` as fractions of total equity.
        width: the view-box width.
    """
    worlds = sorted(weights)
    values = [v for w in worlds for v in weights[w]] or [0.0]
    ticks, step = nice_ticks(min(0.0, *values), max(0.0, *values), 5)
    lo, hi = ticks[0], ticks[-1]
    x0, x1, y0, y1 = _LEFT, width - _RIGHT, _HEIGHT - _BOTTOM, _TOP

    def y(v: float) -> float:
        return y0 - (v - lo) / (hi - lo) * (y0 - y1)

    parts = [f'<svg class="chart" data-chart="weights" viewBox="0 0 {width} {_HEIGHT}" '
             'role="img" aria-label="Weight per world before and after the plan" '
             'xmlns="http://www.w3.org/2000/svg"><title>Weight per world</title>'
             '<text class="chart-title" x="12" y="20">Weight per world, before and after</text>']
    grid = "".join(f'<line x1="{x0}" x2="{x1}" y1="{y(v):.1f}" y2="{y(v):.1f}"/>' for v in ticks)
    marks = "".join(
        f'<g class="tick"><line x1="{x0 - 5}" x2="{x0}" y1="{y(v):.1f}" y2="{y(v):.1f}"/>'
        f'<text x="{x0 - 8}" y="{y(v) + 4:.1f}" text-anchor="end">'
        f"{e(fmt_value(v, 'pct', step=step))}</text></g>" for v in ticks)
    parts.append(f'<g class="grid">{grid}</g><g class="axis y-axis"><line class="domain" '
                 f'x1="{x0}" x2="{x0}" y1="{y1}" y2="{y0}"/>{marks}<text class="axis-title" '
                 f'transform="translate(16 {(y0 + y1) / 2:.1f}) rotate(-90)" '
                 'text-anchor="middle">weight (% of total equity)</text></g>')
    slot = (x1 - x0) / max(1, len(worlds))
    bar = min(38.0, slot * 0.32)
    zero = y(0.0)
    plot, labels = [], []
    for i, world in enumerate(worlds):
        before, after, target = weights[world]
        mid = x0 + slot * (i + 0.5)
        for value, color, dx, name in ((before, _BEFORE, -bar - 2, "before"),
                                       (after, _AFTER, 2, "after")):
            top, bottom = sorted((y(value), zero))
            plot.append(f'<rect class="{name}" x="{mid + dx:.1f}" y="{top:.1f}" width="{bar:.1f}" '
                        f'height="{max(0.5, bottom - top):.1f}" fill="{color}"><title>'
                        f"{e(world)} {name}: {e(fmt_value(value, 'pct', digits=2))}</title></rect>")
        plot.append(f'<line class="target" x1="{mid - bar - 8:.1f}" x2="{mid + bar + 8:.1f}" '
                    f'y1="{y(target):.1f}" y2="{y(target):.1f}" stroke="{_TARGET}" '
                    f'stroke-width="2.5" stroke-dasharray="5 3"><title>{e(world)} target: '
                    f"{e(fmt_value(target, 'pct', digits=2))}</title></line>")
        labels.append(f'<g class="tick"><line x1="{mid:.1f}" x2="{mid:.1f}" y1="{y0}" '
                      f'y2="{y0 + 5}"/><text x="{mid:.1f}" y="{y0 + 18}" text-anchor="middle">'
                      f"{e(_label(world, slot))}</text></g>")
    parts.append('<g class="plot">' + "".join(plot))
    if lo < 0.0 < hi:
        parts.append(f'<line class="zero" x1="{x0}" x2="{x1}" y1="{zero:.1f}" y2="{zero:.1f}"/>')
    parts.append("</g>")
    parts.append(f'<g class="axis x-axis"><line class="domain" x1="{x0}" x2="{x1}" y1="{y0}" '
                 f'y2="{y0}"/>{"".join(labels)}<text class="axis-title" '
                 f'x="{(x0 + x1) / 2:.1f}" y="{_HEIGHT - 8}" text-anchor="middle">world</text></g>')
    legend, x = ['<g class="legend">'], float(x1)
    for name, color in (("target", _TARGET), ("after", _AFTER), ("before", _BEFORE)):
        x -= len(name) * 6.6 + 8
        legend.append(f'<text x="{x:.1f}" y="36">{name}</text>')
        x -= 22
        legend.append(f'<rect x="{x:.1f}" y="27" width="16" height="10" fill="{color}"/>')
        x -= 14
    parts.append("".join(legend) + "</g></svg>")
    return "".join(parts)
