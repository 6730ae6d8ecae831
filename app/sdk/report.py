"""Performance reports of a return series: markdown, JSON, or the HTML tear sheet."""

from __future__ import annotations

import sys
from pathlib import Path

import msgspec

from app.metrics.alpha import METRIC_KEYS
from app.sdk.chart_axes import fmt_value
from app.sdk.io import InputError
from app.sdk.report_data import (
    BENCHMARK_ONLY,
    METRIC_DESCRIPTIONS,
    STAT_ROWS,
    CurvePoint,
    Report,
    build_report,
    report_summary,
    stat_text,
)
from app.sdk.tearsheet import render_html

__all__ = [
    "FORMATS",
    "METRIC_DESCRIPTIONS",
    "CurvePoint",
    "Report",
    "build_report",
    "render",
    "render_html",
    "render_json",
    "render_markdown",
    "report_format",
    "write_report",
    "write_text",
]

FORMATS = ("md", "json", "html")
_MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()


def _wire(value: float | None) -> str:
    if value is None:
        return "undefined"
    return f"{value:.6f}" if abs(value) < 1e6 else f"{value:.6g}"


def render_markdown(report: Report) -> str:
    """Render the report as markdown: parameters, statistics, drawdowns, calendar, metrics."""
    lines = [f"# {report.title}", ""]
    lines += [f"- {k}: {v}" for k, v in report.params.items()]
    lines += [
        f"- periods: {report.periods} (non-finite dropped: {report.dropped})",
        f"- periods per year: {fmt_value(report.periods_per_year, 'count')} "
        f"({report.periods_per_year_source})",
        "",
        "## Statistics",
        "",
    ]
    bench = report.benchmark
    if bench is None:
        lines += ["| statistic | strategy |", "|---|---:|"]
    else:
        lines += [f"| statistic | strategy | {report.benchmark_name or 'benchmark'} |",
                  "|---|---:|---:|"]
    for key, label, unit in STAT_ROWS:
        if key in BENCHMARK_ONLY and bench is None:
            continue
        cells = [stat_text(report.performance, key, unit)]
        if bench is not None:
            cells.append("—" if key in BENCHMARK_ONLY else stat_text(bench, key, unit))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    if report.drawdowns:
        lines += ["", "## Worst drawdowns", "", "| peak | trough | recovered | depth | periods |",
                  "|---|---|---|---:|---:|"]
        lines += [f"| {d.peak} | {d.trough} | {d.recovery or 'ongoing'} | "
                  f"{fmt_value(d.depth, 'pct')} | {d.periods} |" for d in report.drawdowns]
    if report.monthly:
        lines += ["", "## Monthly returns (%)", "", "| year | " + " | ".join(_MONTHS) +
                  " | year |", "|---|" + "---:|" * 13]
        grid: dict[int, list[str]] = {}
        for y, m, v in report.monthly:
            grid.setdefault(y, [""] * 13)[m - 1] = fmt_value(v, "pct", digits=1)
        for y, v, _ in report.yearly:
            grid.setdefault(y, [""] * 13)[12] = fmt_value(v, "pct", digits=1)
        lines += [f"| {y} | " + " | ".join(row) + " |" for y, row in sorted(grid.items())]
    lines += ["", "## Wire metrics (alpha_performance)", "", "| metric | value | meaning |",
              "|---|---:|---|"]
    for key in METRIC_KEYS:
        lines.append(f"| `{key}` | {_wire(report.metrics[key])} | {METRIC_DESCRIPTIONS[key]} |")
    lines += ["", "Wire metrics are per period, not annualised; *undefined* means a zero "
              "denominator. Statistics are annualised; win rate counts non-flat periods only."]
    return "\n".join(lines) + "\n"


def render_json(report: Report) -> str:
    """Render the report as JSON; undefined values are ``null``."""
    return msgspec.json.format(msgspec.json.encode(report_summary(report)).decode(),
                               indent=2) + "\n"


_RENDERERS = {"md": render_markdown, "json": render_json, "html": render_html}
_SUFFIXES = {".md": "md", ".markdown": "md", ".json": "json", ".html": "html", ".htm": "html"}


def render(report: Report, fmt: str) -> str:
    """Render the report in ``fmt`` (``md``, ``json`` or ``html``)."""
    return _RENDERERS[fmt](report)


def report_format(path: str | Path) -> str:
    """The format (md, json, html) named by a file's extension.

    Raises:
        InputError: the extension is not one of .md, .json, .html.
    """
    fmt = _SUFFIXES.get(Path(path).suffix.lower())
    if fmt is None:
        raise InputError(f"{path}: the report extension must be .md, .json or .html")
    return fmt


def write_text(text: str, path: str | Path | None) -> None:
    """Write ``text`` to ``path`` (its folder created), or to standard output when None.

    Raises:
        InputError: the file cannot be written.
    """
    if path is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    p = Path(path)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write {p}: {exc.strerror or exc}") from exc


def write_report(report: Report, path: str | Path) -> str:
    """Write the report in the format its extension names; returns the format."""
    fmt = report_format(path)
    write_text(render(report, fmt), path)
    return fmt
