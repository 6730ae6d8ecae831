"""Console actions: plan preview, apply, execution preview and submit, risk changes, rollout.

Each is a ``POST`` of a small JSON form (htmx with the console's ``wg-json`` encoding) that
the console turns into the public API call, with the browser's token. Actions must come from
the console page itself: a request without ``HX-Request: true`` is refused (403), so a form
on another site cannot drive them, even on a deployment without tokens.
"""

from __future__ import annotations

import json
from functools import partial
from typing import Any

import anyio.to_thread
import msgspec
from litestar import Request, Response, post
from litestar.di import NamedDependency
from litestar.status_codes import HTTP_200_OK

from app.console.charts import weights_chart
from app.console.client import ApiTarget, ConsoleClient
from app.console.fragments import html_response
from app.console.html import e, error_panel
from app.console.preview import InputError, build_request, weights_from_request
from app.console.render_ops import rollout_html, states_html
from app.console.render_plan import execution_html, plan_html, weights_from_projection
from app.errors import Code, PermissionDeniedError, ValidationFailedError
from app.sdk import calls
from app.sdk.errors import SdkError
from app.sdk.rollout import rollout

__all__ = ["ACTIONS"]

_STATES = frozenset({"ACTIVE", "REDUCING", "HALTED"})


async def _form(request: Request[Any, Any, Any]) -> dict[str, str]:
    """The action's form fields; refuses requests that do not come from the console page."""
    if request.headers.get("hx-request") != "true":
        raise PermissionDeniedError("Console actions are sent by the console page "
                                    "(HX-Request: true); use the API for anything else.")
    try:
        body = msgspec.json.decode(await request.body())
    # Invalid UTF-8 in a key surfaces as UnicodeDecodeError, and msgspec stops at Python's
    # recursion limit on JSON nested hundreds of levels: both are the client's, never a 500.
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        raise ValidationFailedError("The form is not valid JSON.",
                                    code=Code.MALFORMED_JSON, status=400) from None
    if not isinstance(body, dict):
        raise ValidationFailedError("The form must be a JSON object.")
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in body.items()}


def _alert(text: str, tone: str = "bad") -> str:
    return f'<div class="alert {tone}" role="alert">{text}</div>'


def _request_of(form: dict[str, str]) -> dict[str, Any]:
    try:
        body = json.loads(form.get("request", ""))
    except ValueError:
        raise ValidationFailedError("The previewed request is missing; preview again.") from None
    if not isinstance(body, dict):
        raise ValidationFailedError("The previewed request must be a JSON object.")
    return body


def _action_bar(request_json: str) -> str:
    hidden = f'<textarea name="request" hidden>{e(request_json)}</textarea>'
    return (
        '<div class="action-bar">'
        f'<form class="inline" hx-post="/console/fragments/preview/apply" hx-ext="wg-json" '
        f'hx-target="#action-result" hx-confirm="Apply this plan? It is stored and announced '
        f'to every subscriber.">{hidden}<input name="run_id" placeholder="run_id (optional)" '
        'aria-label="run id"><button class="primary">Apply…</button></form>'
        f'<form class="inline" hx-post="/console/fragments/preview/execute" hx-ext="wg-json" '
        f'hx-target="#action-result">{hidden}<button class="secondary">Preview execution'
        '</button></form></div><div id="action-result"></div>')


@post("/fragments/preview", status_code=HTTP_200_OK)
async def preview_action(request: Request[Any, Any, Any],
                         api: NamedDependency[ApiTarget]) -> Response[str]:
    """``POST /rebalancing/plan`` for the form's request: tables and the weight chart."""
    form = await _form(request)
    try:
        body = build_request(form)
    except InputError as exc:
        return html_response(_alert(f"<strong>Check the form:</strong> {e(exc)}"))
    async with api.client(request) as client:
        try:
            plan = await client.run(calls.plan(body))
        except SdkError as exc:
            return html_response(error_panel(exc, "POST /rebalancing/plan"))
    weights = weights_from_projection(plan) or weights_from_request(body, plan)
    chart = weights_chart(weights) if weights else ""
    version = plan.get("schema_version", 1)
    request_json = json.dumps(body, separators=(",", ":"))
    return html_response(
        f'<section class="panel"><div class="panel-head"><h2>Plan preview</h2>'
        f'<span class="badge info">schema v{e(version)}</span></div>{chart}'
        f"{_action_bar(request_json)}</section>"
        f'<section class="panel plan-body">{plan_html(plan)}</section>')


@post("/fragments/preview/apply", status_code=HTTP_200_OK)
async def apply_action(request: Request[Any, Any, Any],
                       api: NamedDependency[ApiTarget]) -> Response[str]:
    """``POST /rebalancing/apply`` of the previewed request (token needed)."""
    form = await _form(request)
    body = _request_of(form)
    run_id = form.get("run_id", "").strip() or None
    async with api.client(request) as client:
        try:
            await client.run(calls.apply(body, run_id))
        except SdkError as exc:
            return html_response(error_panel(exc, "POST /rebalancing/apply"))
    named = f" as <code>{e(run_id)}</code>" if run_id else ""
    return html_response(_alert(f"<strong>Applied</strong>{named}: stored and announced on "
                                'the event stream. See <a href="/console/plans">Plans</a>.',
                                "ok"))


def _submit_form(answer: dict[str, Any]) -> str:
    ident, etag = answer.get("execution_id"), answer.get("etag")
    if not ident or not etag or answer.get("state") != "previewed":
        return ""
    return (f'<form class="inline" hx-post="/console/fragments/execution/submit" '
            f'hx-ext="wg-json" hx-target="#action-result" hx-confirm="Submit these orders '
            f'LIVE? They are re-checked against the current risk state first.">'
            f'<input type="hidden" name="execution_id" value="{e(ident)}">'
            f'<input type="hidden" name="etag" value="{e(etag)}">'
            '<button class="danger">Submit live…</button></form>')


@post("/fragments/preview/execute", status_code=HTTP_200_OK)
async def execute_action(request: Request[Any, Any, Any],
                         api: NamedDependency[ApiTarget]) -> Response[str]:
    """``POST /rebalancing/execute`` (no submit): a stored, risk-checked preview."""
    body = _request_of(await _form(request))
    async with api.client(request) as client:
        try:
            answer = await client.run(calls.execute(body, submit=False, shared_account=False,
                                                    per_strategy=False, allow_live=False))
        except SdkError as exc:
            return html_response(error_panel(exc, "POST /rebalancing/execute"))
    return html_response(f'<section class="panel inset"><div class="panel-head"><h2>'
                         f"Execution preview</h2>{_submit_form(answer)}</div>"
                         f"{execution_html(answer)}</section>")


@post("/fragments/execution/submit", status_code=HTTP_200_OK)
async def submit_action(request: Request[Any, Any, Any],
                        api: NamedDependency[ApiTarget]) -> Response[str]:
    """``POST /rebalancing/executions/{id}/submit`` with ``If-Match`` and ``X-Allow-Live``."""
    form = await _form(request)
    async with api.client(request) as client:
        try:
            answer = await client.run(calls.submit_execution(
                form.get("execution_id", ""), form.get("etag", ""), allow_live=True))
        except SdkError as exc:
            return html_response(error_panel(exc, "POST /rebalancing/executions/{id}/submit"))
    return html_response('<section class="panel inset"><h2>Submitted</h2>'
                         f"{execution_html(answer)}</section>")


@post("/fragments/risk", status_code=HTTP_200_OK)
async def risk_action(request: Request[Any, Any, Any],
                      api: NamedDependency[ApiTarget]) -> Response[str]:
    """``PUT /risk/state`` or ``PUT /risk/worlds/{id}`` with ``If-Match``; then the table."""
    form = await _form(request)
    state, reason = form.get("state", ""), form.get("reason", "").strip()
    world = form.get("world_id", "").strip() or None
    flash = ""
    async with api.client(request) as client:
        if state not in _STATES or not reason:
            flash = _alert("Choose a state and give a reason.")
        else:
            flash = await _change(client, state, reason, world, form.get("etag") or None)
        try:
            reply = await client.run(calls.risk_state())
        except SdkError as exc:
            return html_response(flash + error_panel(exc, "GET /risk/state"))
    return html_response(states_html(reply, controls=True, flash=flash), "wg-risk-changed")


async def _change(client: ConsoleClient, state: str, reason: str, world: str | None,
                  etag: str | None) -> str:
    where = f"world {world}" if world else "everything (global)"
    try:
        await client.run(calls.set_risk_state(state, reason, world_id=world, etag=etag))
    except SdkError as exc:
        return error_panel(exc, f"Setting {where} to {state}")
    return _alert(f"<strong>{e(where)}</strong> is now <strong>{e(state)}</strong> "
                  f"({e(reason)}).", "ok")


@post("/fragments/rollout", status_code=HTTP_200_OK)
async def rollout_action(request: Request[Any, Any, Any],
                         api: NamedDependency[ApiTarget]) -> Response[str]:
    """Run ``worldgate rollout``'s checklist against this deployment, with the token."""
    await _form(request)
    client = api.client(request)
    async with client:
        try:
            health = await client.run(calls.health())
        except SdkError as exc:
            return html_response(error_panel(exc, "GET /health"))
    configured = health.get("rebalance_schema_version")
    # The version being rolled out: the one the Gateway is configured for (v2 at least, the
    # first version a rollout exists for).
    target = max(2, configured) if isinstance(configured, int) else 2
    run = partial(rollout, client.base_url, token=client.token,
                  worldservice_url=client.worldservice_url, target_version=target)
    result = await anyio.to_thread.run_sync(run)
    return html_response(rollout_html(result.checks, result.url, result.checked_at,
                                      configured if configured is not None else "?", target))


ACTIONS = [preview_action, apply_action, execute_action, submit_action, risk_action,
           rollout_action]
