"""The deployment report: each world's alpha_performance metrics over its applied plans."""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec
import numpy as np

from app.metrics.alpha import METRIC_KEYS, METRIC_NAMES
from app.sdk.charts import PALETTE, Line, line_chart
from app.sdk.report_data import METRIC_DESCRIPTIONS
from app.sdk.report_page import page, params_list, table
from app.sdk.wire import AppliedPlanRecord

__all__ = [
    "MAX_CHART_WORLDS",
    "MIN_TIME_SPAN",
    "PlansReport",
    "build_plans_report",
    "render_plans",
    "render_plans_body",
]

MAX_CHART_WORLDS = len(PALETTE)
"""Worlds drawn per chart (the most recently planned); the tables list every world."""
MIN_TIME_SPAN = 60.0
"""Seconds the plans must span for a time axis; closer together, the x axis counts plans."""
CHART_WIDTH = 600


@dataclass(frozen=True)
class PlansReport:
    """Applied plans of one deployment, oldest first, and each world's metrics over them.

    Attributes:
        title: the report title.
        params: where the plans came from (URL, filters), shown in the header.
        plans: every listed plan, oldest first.
        worlds: per world, ``(applied_at, run_id, metrics)`` for each v2+ plan with that
            world's metrics, oldest first.
        latest_strategies: the newest per-strategy metrics seen, by ``(strategy, world)``.
    """

    title: str
    params: dict[str, str]
    plans: list[AppliedPlanRecord]
    worlds: dict[str, list[tuple[float, str, dict[str, float]]]] = field(default_factory=dict)
    latest_strategies: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)

    @property
    def with_metrics(self) -> int:
        """How many plans carried ``alpha_metrics`` (schema v2 or later)."""
        return sum(p.alpha_metrics is not None for p in self.plans)


def build_plans_report(
    records: Iterable[AppliedPlanRecord], *, title: str, params: Mapping[str, str]
) -> PlansReport:
    """Group the plans' metrics by world, in time order (O(plans × worlds)).

    Args:
        records: plans as listed by the server (any order).
        title: the report title.
        params: the header's parameters.
    """
    plans = sorted(records, key=lambda p: (p.created_at, p.run_id))
    worlds: dict[str, list[tuple[float, str, dict[str, float]]]] = {}
    strategies: dict[tuple[str, str], dict[str, float]] = {}
    for plan in plans:
        if plan.alpha_metrics is None:
            continue
        for world, metrics in plan.alpha_metrics.per_world.items():
            worlds.setdefault(world, []).append((plan.created_at, plan.run_id, dict(metrics)))
        for strategy, per_world in plan.alpha_metrics.per_strategy.items():
            for world, metrics in per_world.items():
                strategies[(strategy, world)] = dict(metrics)
    return PlansReport(title=title, params=dict(params), plans=plans,
                       worlds=dict(sorted(worlds.items())), latest_strategies=strategies)


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _wire(value: float) -> str:
    return f"{value:.4f}" if abs(value) < 1e6 else f"{value:.4g}"


def _charted(report: PlansReport) -> list[str]:
    """The worlds drawn on charts: the most recently planned ones, in name order."""
    recent = sorted(report.worlds, key=lambda w: report.worlds[w][-1][0], reverse=True)
    return sorted(recent[:MAX_CHART_WORLDS])


def _charts(report: PlansReport) -> str:
    worlds = _charted(report)
    times = [p.created_at for p in report.plans if p.alpha_metrics is not None]
    # Plans applied within a minute of each other (a script, a test) would stack on one
    # vertical line: then the x axis counts plans instead.
    timed = max(times) - min(times) >= MIN_TIME_SPAN
    order = {p.run_id: i + 1 for i, p in enumerate(report.plans)}
    x_title = "plan applied at (UTC)" if timed else "plan number (oldest = 1)"
    out = []
    for key, name in zip(METRIC_KEYS, METRIC_NAMES, strict=True):
        lines = []
        for i, world in enumerate(worlds):
            points = report.worlds[world]
            xs = np.array([p[0] if timed else order[p[1]] for p in points], dtype=float)
            ys = np.array([p[2].get(key, 0.0) for p in points], dtype=float)
            lines.append(Line(world, xs, ys, PALETTE[i % len(PALETTE)], markers=True))
        unit = "pct" if name in ("max_drawdown", "win_ratio") else "ratio"
        y_title = f"{name} ({'%' if unit == 'pct' else 'ratio'}, per period)"
        chart = line_chart(f"plans-{name}", f"{name} per world", lines, y_unit=unit,
                           y_title=y_title, x_time=timed, x_title=x_title, width=CHART_WIDTH,
                           height=280)
        out.append(f'<section class="panel">{chart}<p class="note">'
                   f"{html.escape(METRIC_DESCRIPTIONS[key])}</p></section>")
    return f'<div class="chart-grid">{"".join(out)}</div>'


def _latest_rows(report: PlansReport) -> list[list[str]]:
    return [[world, _when(points[-1][0]), str(len(points)),
             *(_wire(points[-1][2].get(k, 0.0)) for k in METRIC_KEYS)]
            for world, points in report.worlds.items()]


def _strategy_rows(report: PlansReport) -> list[list[str]]:
    return [[s, w, *(_wire(m.get(k, 0.0)) for k in METRIC_KEYS)]
            for (s, w), m in sorted(report.latest_strategies.items())]


def _plan_rows(report: PlansReport) -> list[list[str]]:
    return [[_when(p.created_at), p.run_id, f"v{p.schema_version}", ", ".join(p.world_ids)]
            for p in reversed(report.plans)]


def render_plans_html(report: PlansReport) -> str:
    """One self-contained page for the deployment: charts per metric, then the tables."""
    return page(report.title, render_plans_body(report))


def render_plans_body(report: PlansReport) -> str:
    """The report's content without the page around it (the console embeds it)."""
    sub = (f"{len(report.plans)} applied plans, {report.with_metrics} with alpha_metrics, "
           f"{len(report.worlds)} worlds")
    parts = [f'<header class="sheet"><h1>{html.escape(report.title)}</h1>'
             f'<p class="sub">{sub}</p>{params_list(report.params)}</header>']
    names = list(METRIC_NAMES)
    if not report.worlds:
        parts.append('<section class="panel"><p>No applied plan carries alpha_metrics yet '
                     "(they come with schema v2 and later plans).</p></section>")
    else:
        parts.append(_charts(report))
        if len(report.worlds) > MAX_CHART_WORLDS:
            parts.append(f'<p class="note">Charts show the {MAX_CHART_WORLDS} most recently '
                         "planned worlds; the table lists all.</p>")
        parts.append('<section class="panel"><h2>Latest metrics per world</h2>'
                     + table(["world", "last plan", "plans", *names], _latest_rows(report),
                             numeric=tuple(range(2, 9)), cls="dates") + "</section>")
        if report.latest_strategies:
            parts.append('<section class="panel"><h2>Latest metrics per strategy</h2>'
                         + table(["strategy", "world", *names], _strategy_rows(report),
                                 numeric=tuple(range(2, 8))) + "</section>")
    parts.append('<section class="panel"><h2>Applied plans (newest first)</h2>'
                 + table(["applied at", "run_id", "schema", "worlds"], _plan_rows(report),
                         cls="dates") + "</section>")
    parts.append("<footer>Worldgate deployment report. Metrics are the per-period "
                 "alpha_performance values WorldService stored with each plan.</footer>")
    return "".join(parts)


def render_plans_markdown(report: PlansReport) -> str:
    """The deployment report as markdown tables."""
    names = list(METRIC_NAMES)
    lines = [f"# {report.title}", ""]
    lines += [f"- {k}: {v}" for k, v in report.params.items()]
    lines += [f"- plans: {len(report.plans)} ({report.with_metrics} with alpha_metrics)", ""]
    if report.worlds:
        lines += ["## Latest metrics per world", "",
                  "| world | last plan | plans | " + " | ".join(names) + " |",
                  "|---|---|---:|" + "---:|" * len(names)]
        lines += ["| " + " | ".join(r) + " |" for r in _latest_rows(report)]
        for world, points in report.worlds.items():
            lines += ["", f"## {world}", "", "| applied at | run_id | " + " | ".join(names)
                      + " |", "|---|---|" + "---:|" * len(names)]
            lines += [f"| {_when(ts)} | {run} | " + " | ".join(_wire(m.get(k, 0.0))
                                                           for k in METRIC_KEYS) + " |"
                      for ts, run, m in points]
    lines += ["", "## Applied plans (newest first)", "", "| applied at | run_id | schema | "
              "worlds |", "|---|---|---|---|"]
    lines += ["| " + " | ".join(r) + " |" for r in _plan_rows(report)]
    return "\n".join(lines) + "\n"


def render_plans_json(report: PlansReport) -> str:
    """The deployment report as JSON: per world, the metrics of each plan in time order."""
    data: dict[str, Any] = {
        "title": report.title,
        "params": report.params,
        "plans": len(report.plans),
        "plans_with_metrics": report.with_metrics,
        "worlds": {w: [{"applied_at": ts, "run_id": run, "metrics": m} for ts, run, m in pts]
                   for w, pts in report.worlds.items()},
    }
    return msgspec.json.format(msgspec.json.encode(data).decode(), indent=2) + "\n"


def render_plans(report: PlansReport, fmt: str) -> str:
    """Render in ``md``, ``json`` or ``html``."""
    renderers = {"md": render_plans_markdown, "json": render_plans_json,
                 "html": render_plans_html}
    return renderers[fmt](report)

