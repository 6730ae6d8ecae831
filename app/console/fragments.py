"""Read-only console fragments: each asks the public API and answers a piece of HTML.

An API error (401, 403, 404, the API unreachable, ...) is shown in the fragment as a panel:
the fragment itself answered fine, and the operator sees exactly what the API said.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from litestar import Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromQuery

from app.console.client import ApiTarget, ConsoleClient
from app.console.html import badge, e, error_panel, fmt_time, table
from app.console.paging import EXECUTIONS_PATH, executions_missing, page_of, page_params
from app.console.render_ops import (
    health_html,
    history_html,
    limits_html,
    states_html,
    status_html,
)
from app.console.render_plan import execution_html, plan_html
from app.sdk import calls
from app.sdk.errors import SdkError, WorldgateError
from app.sdk.plans_report import build_plans_report, render_plans_body
from app.sdk.wire import parse_applied_plans

__all__ = ["READ_FRAGMENTS", "html_response"]

_REPORT_PLANS = 1000


def html_response(content: str, trigger: str | None = None) -> Response[str]:
    """An HTML fragment answer (never cached: it shows live state); ``trigger`` names an
    event htmx raises on the page (``HX-Trigger``) so other panels can refresh."""
    headers = {"Cache-Control": "no-store"}
    if trigger:
        headers["HX-Trigger"] = trigger
    return Response(content=content, media_type="text/html; charset=utf-8", headers=headers)


async def _render(request: Request[Any, Any, Any], api: ApiTarget, what: str,
                  fn: Callable[[ConsoleClient], Awaitable[str]]) -> Response[str]:
    async with api.client(request) as client:
        try:
            return html_response(await fn(client))
        except SdkError as exc:
            return html_response(error_panel(exc, what))


@get("/fragments/health")
async def health_fragment(request: Request[Any, Any, Any],
                          api: NamedDependency[ApiTarget]) -> Response[str]:
    """``GET /health`` as a panel."""
    async def show(client: ConsoleClient) -> str:
        answer = await client.run(calls.health())
        return health_html(answer)
    return await _render(request, api, "GET /health", show)


@get("/fragments/status")
async def status_fragment(request: Request[Any, Any, Any],
                          api: NamedDependency[ApiTarget]) -> Response[str]:
    """``GET /status`` as a panel."""
    async def show(client: ConsoleClient) -> str:
        return status_html(await client.get("/status"))
    return await _render(request, api, "GET /status", show)


@get("/fragments/risk")
async def risk_fragment(request: Request[Any, Any, Any], api: NamedDependency[ApiTarget],
                        controls: FromQuery[bool] = False) -> Response[str]:
    """``GET /risk/state`` as a table (with change forms when ``controls``)."""
    async def show(client: ConsoleClient) -> str:
        answer = await client.run(calls.risk_state())
        return states_html(answer, controls=controls)
    return await _render(request, api, "GET /risk/state", show)


@get("/fragments/risk-history")
async def risk_history_fragment(request: Request[Any, Any, Any],
                                api: NamedDependency[ApiTarget]) -> Response[str]:
    """``GET /risk/history`` (the 50 newest changes)."""
    async def show(client: ConsoleClient) -> str:
        answer = await client.run(calls.risk_history(limit=50))
        return history_html(answer)
    return await _render(request, api, "GET /risk/history", show)


@get("/fragments/risk-limits")
async def risk_limits_fragment(request: Request[Any, Any, Any],
                               api: NamedDependency[ApiTarget]) -> Response[str]:
    """``GET /risk/limits``."""
    async def show(client: ConsoleClient) -> str:
        answer = await client.run(calls.risk_limits())
        return limits_html(answer)
    return await _render(request, api, "GET /risk/limits", show)


def _plan_item(plan: dict[str, Any]) -> str:
    raw = plan.get("response")
    response: dict[str, Any] = raw if isinstance(raw, dict) else {}
    worlds = ", ".join(str(w) for w in plan.get("world_ids") or [])
    per_world = response.get("per_world")
    deltas = 0
    for entry in per_world.values() if isinstance(per_world, dict) else ():
        if isinstance(entry, dict) and isinstance(entry.get("deltas"), list):
            deltas += len(entry["deltas"])
    version = badge(f"v{plan.get('schema_version', 1)}", "info")
    return (f'<details class="plan"><summary><span class="when">'
            f'{e(fmt_time(plan.get("created_at")))}</span><code>{e(plan.get("run_id", ""))}'
            f'</code>{version}<span>{e(worlds)}'
            f'</span><span class="muted small">{deltas} deltas</span></summary>'
            f'<div class="plan-body">{plan_html(response)}</div></details>')


def _more(url: str, target: str, cursor: str | None, filters: dict[str, str | None]) -> str:
    if not cursor:
        return ""
    query = "&".join(f"{k}={e(quote(v, safe=''))}"
                     for k, v in page_params(cursor, filters=filters).items())
    return (f'<button class="secondary more" hx-get="{url}?{query}" hx-target="{target}" '
            'hx-swap="outerHTML">Older…</button>')


@get("/fragments/plans")
async def plans_fragment(request: Request[Any, Any, Any], api: NamedDependency[ApiTarget],
                         world_id: FromQuery[str | None] = None,
                         cursor: FromQuery[str | None] = None) -> Response[str]:
    """``GET /worldservice/rebalancing/plans``: a page of plans, each expandable."""
    async def show(client: ConsoleClient) -> str:
        answer = await client.get(f"{client.worldservice_url}/rebalancing/plans",
                                  page_params(cursor, filters={"world_id": world_id}))
        page = page_of(answer, "plans")
        if not page.items and not cursor:
            return '<p class="empty">No plan was applied yet.</p>'
        items = "".join(_plan_item(p) for p in page.items)
        more = _more("/console/fragments/plans", "this", page.next, {"world_id": world_id})
        return f'<div class="plan-list">{items}</div>{more}'
    return await _render(request, api, "GET /worldservice/rebalancing/plans", show)


def _execution_row(item: dict[str, Any]) -> list[str]:
    ident = str(item.get("execution_id", ""))
    link = (f'<a href="#" hx-get="/console/fragments/execution?execution_id={e(ident)}" '
            f'hx-target="#execution"><code>{e(ident)}</code></a>')
    when = item.get("submitted_at") or item.get("created_at")
    return [e(fmt_time(when)), link, badge(item.get("state", "?")), badge(item.get("status", "?")),
            e(", ".join(str(w) for w in item.get("world_ids") or []))]


@get("/fragments/executions")
async def executions_fragment(request: Request[Any, Any, Any], api: NamedDependency[ApiTarget],
                              cursor: FromQuery[str | None] = None) -> Response[str]:
    """``GET /rebalancing/executions``: a page of executions (where the Gateway lists them)."""
    async def show(client: ConsoleClient) -> str:
        try:
            answer = await client.get(EXECUTIONS_PATH, page_params(cursor))
        except WorldgateError as exc:
            if not executions_missing(exc):
                raise
            return ('<p class="muted">This Gateway does not list executions '
                    f"(<code>GET {EXECUTIONS_PATH}</code> answered {exc.status}); open one by "
                    "its id instead.</p>")
        page = page_of(answer, "executions")
        rows = [_execution_row(i) for i in page.items]
        return (table(["when", "execution", "state", "status", "worlds"], rows,
                      empty="No execution yet.")
                + _more("/console/fragments/executions", "this", page.next, {}))
    return await _render(request, api, f"GET {EXECUTIONS_PATH}", show)


@get("/fragments/execution")
async def execution_fragment(request: Request[Any, Any, Any], api: NamedDependency[ApiTarget],
                             execution_id: FromQuery[str] = "") -> Response[str]:
    """``GET /rebalancing/executions/{id}``: one execution's batches, orders and denials."""
    async def show(client: ConsoleClient) -> str:
        answer = await client.run(calls.execution(execution_id))
        return ('<section class="panel inset"><h2>Execution</h2>'
                f"{execution_html(answer)}</section>")
    return await _render(request, api, "GET /rebalancing/executions/{id}", show)


@get("/fragments/report")
async def report_fragment(request: Request[Any, Any, Any], api: NamedDependency[ApiTarget],
                          world_id: FromQuery[str | None] = None) -> Response[str]:
    """The deployment tear sheet from stored plans, for one world or all."""
    world = (world_id or "").strip() or None

    async def show(client: ConsoleClient) -> str:
        answer = await client.get(f"{client.worldservice_url}/rebalancing/plans",
                                  page_params(None, _REPORT_PLANS, filters={"world_id": world}))
        records = parse_applied_plans(answer)
        params = {"source": client.worldservice_url, "world": world or "all worlds",
                  "plans read": str(len(records)),
                  "built": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
        title = f"Tear sheet — {world}" if world else "Deployment tear sheet"
        report = build_plans_report(records, title=title, params=params)
        if world:  # plans touching the world may carry other worlds too: show this one
            report = replace(report, worlds={w: p for w, p in report.worlds.items() if w == world},
                             latest_strategies={k: m for k, m in report.latest_strategies.items()
                                                if k[1] == world})
        return render_plans_body(report)
    return await _render(request, api, "GET /worldservice/rebalancing/plans", show)


READ_FRAGMENTS = [health_fragment, status_fragment, risk_fragment, risk_history_fragment,
                  risk_limits_fragment, plans_fragment, executions_fragment, execution_fragment,
                  report_fragment]
