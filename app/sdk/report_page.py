"""The HTML shell every report shares: one self-contained page, its stylesheet, its tables."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

__all__ = ["CSS", "card", "page", "params_list", "table"]

# System fonts only: the page must open offline and look the same with no web font.
CSS = """
:root { --ink:#111827; --muted:#6b7280; --line:#e5e7eb; --panel:#ffffff; --bg:#f3f4f6;
  --accent:#2563eb; --up:#15803d; --down:#b91c1c; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--ink);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  "DejaVu Sans", sans-serif; font-variant-numeric: tabular-nums; }
main { max-width: 1260px; margin: 0 auto; padding: 24px; }
header.sheet { background:var(--panel); border:1px solid var(--line); border-radius:10px;
  padding:18px 22px; margin-bottom:16px; }
header.sheet h1 { margin:0 0 4px; font-size:22px; font-weight:650; letter-spacing:-0.01em; }
header.sheet .sub { color:var(--muted); margin:0 0 12px; }
dl.params { display:grid; grid-template-columns: repeat(auto-fill, minmax(340px, 1fr));
  gap:6px 24px; margin:0; }
dl.params div { display:flex; gap:8px; border-bottom:1px dashed var(--line); padding:3px 0; }
dl.params dt { color:var(--muted); min-width:96px; }
dl.params dd { margin:0; font-weight:550; overflow-wrap:anywhere; }
.cards { display:grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap:12px;
  margin-bottom:16px; }
.card { background:var(--panel); border:1px solid var(--line); border-radius:10px;
  padding:12px 14px; }
.card .label { color:var(--muted); font-size:12px; text-transform:uppercase;
  letter-spacing:0.04em; }
.card .value { font-size:22px; font-weight:650; margin-top:2px; }
.card .bench { color:var(--muted); font-size:12px; }
.up { color:var(--up); } .down { color:var(--down); }
.layout { display:grid; grid-template-columns: minmax(0, 1fr) 400px; gap:16px;
  align-items:start; }
@media (max-width: 1100px) { .layout { grid-template-columns: minmax(0, 1fr); } }
section.panel { background:var(--panel); border:1px solid var(--line); border-radius:10px;
  padding:14px 16px; margin-bottom:16px; }
section.panel h2 { font-size:15px; margin:0 0 8px; font-weight:650; }
section.panel p.note { color:var(--muted); font-size:12px; margin:6px 0 0; }
svg.chart { width:100%; height:auto; display:block; }
.chart-grid { display:grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr));
  gap:0 16px; }
svg.chart text { font-family: inherit; font-size:12px; fill:#374151; }
svg.chart .chart-title { font-size:14px; font-weight:650; fill:var(--ink); }
svg.chart .axis-title { fill:var(--muted); }
svg.chart .domain, svg.chart .tick line { stroke:#9ca3af; }
svg.chart .grid line { stroke:#eef0f3; }
svg.chart .zero { stroke:#6b7280; stroke-width:1; }
svg.chart .line { fill:none; stroke-width:1.8; stroke-linejoin:round; }
svg.chart .area { opacity:0.25; stroke:none; }
svg.chart .bar { fill:#93c5fd; }
svg.chart .marker { stroke-width:2; }
svg.chart .cell-label { font-size:11px; fill:#111827; }
svg.chart .legend text { font-size:12px; }
table { border-collapse:collapse; width:100%; font-size:13px; }
th, td { padding:5px 8px; border-bottom:1px solid var(--line); text-align:left;
  vertical-align:top; }
th { color:var(--muted); font-weight:600; font-size:12px; }
td.num, th.num { text-align:right; white-space:nowrap; }
table.dates td { white-space:nowrap; }
table.dates th, table.dates td { padding:5px 5px; font-size:12px; }
.scroll { overflow-x:auto; }
tbody tr:hover { background:#f9fafb; }
code { font-size:12px; background:#f3f4f6; padding:1px 4px; border-radius:4px; }
footer { color:var(--muted); font-size:12px; margin:8px 0 24px; }
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def page(title: str, body: str) -> str:
    """A complete HTML document: the stylesheet inline, nothing fetched from anywhere."""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{CSS}</style></head>"
        f"<body><main>{body}</main></body></html>\n"
    )


def params_list(params: Mapping[str, str]) -> str:
    """The run's parameters as a definition list."""
    items = "".join(f"<div><dt>{_e(k)}</dt><dd>{_e(v)}</dd></div>" for k, v in params.items())
    return f'<dl class="params">{items}</dl>'


def card(label: str, value: str, *, tone: str = "", bench: str | None = None) -> str:
    """One headline number."""
    extra = f'<div class="bench">{_e(bench)}</div>' if bench else ""
    cls = f"value {tone}".strip()
    return (f'<div class="card"><div class="label">{_e(label)}</div>'
            f'<div class="{cls}">{_e(value)}</div>{extra}</div>')


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], *,
          numeric: Sequence[int] = (), cls: str = "") -> str:
    """A table; columns listed in ``numeric`` are right-aligned. Cells are escaped."""
    def cell(tag: str, i: int, text: str) -> str:
        cls = ' class="num"' if i in numeric else ""
        return f"<{tag}{cls}>{_e(text)}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(cell("td", i, c) for i, c in enumerate(row)) + "</tr>"
                   for row in rows)
    attr = f' class="{_e(cls)}"' if cls else ""
    # Wide tables scroll inside their panel instead of widening the page.
    return (f'<div class="scroll"><table{attr}><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")
