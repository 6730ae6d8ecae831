"""The console's pages: server-rendered shells whose panels load their data with htmx.

A page needs no token to load; each panel fetches its fragment with the token the browser
holds (``hx-trigger="load"``) and reloads when the token changes (``wg:token``).
"""

from __future__ import annotations

from app.console.html import e, page

__all__ = ["events_page", "overview_page", "plans_page", "preview_page", "reports_page",
           "risk_page"]

_SAMPLE_POSITIONS = """world_id,strategy_id,symbol,qty,mark,venue
core,trend,BTCUSDT,4.0,60000.0,binance
core,carry,ETHUSDT,40.0,3000.0,binance
alpha,meanrev,BTCUSDT,2.0,60000.0,binance
alpha,meanrev,SOLUSDT,1000.0,150.0,binance"""


def _panel(title: str, inner: str, *, cls: str = "", actions: str = "") -> str:
    head = f'<div class="panel-head"><h2>{e(title)}</h2>{actions}</div>'
    return f'<section class="panel {cls}">{head}{inner}</section>'


def _loading(url: str, target_id: str, also: str = "") -> str:
    trigger = f'hx-trigger="load, wg:token from:body{also}"'
    return (f'<div id="{target_id}" hx-get="{url}" {trigger}>'
            '<p class="muted">Loading…</p></div>')


def overview_page() -> str:
    """Health and capabilities, the rollout checklist on demand, trading states."""
    rollout = ('<button class="primary" hx-post="/console/fragments/rollout" hx-ext="wg-json" '
               'hx-target="#rollout" hx-confirm="The checklist applies one plan on fresh '
               'rollout-… worlds (as `worldgate rollout` does). Run it?" '
               'hx-indicator="#rollout-busy">Run checks</button>')
    body = ('<div class="grid two">'
            + _panel("Health and capabilities", _loading("/console/fragments/health", "health"))
            + _panel("Running configuration", _loading("/console/fragments/status", "status"))
            + "</div>"
            + _panel("Rollout checklist", '<div id="rollout"><p class="muted">The same checks '
                     "as <code>worldgate rollout</code>, run against this deployment when you "
                     'press the button.</p></div><p id="rollout-busy" class="htmx-indicator '
                     'muted">Running the checks…</p>', actions=rollout)
            + _panel("Trading states", _loading("/console/fragments/risk?controls=0", "states"),
                     actions='<a class="button secondary" href="/console/risk">Change…</a>'))
    return page("overview", "Overview", body)


def events_page() -> str:
    """``WS /events`` with filters, resume after a dropped connection, pause and clear."""
    topics = "".join(
        f'<label class="check"><input type="checkbox" name="topic" value="{t}" checked> {t}'
        "</label>" for t in ("rebalancing_planned", "rebalancing_orders", "risk"))
    controls = (
        f'<form id="event-filters" class="filters"><fieldset><legend>Topics</legend>{topics}'
        '</fieldset><label>Worlds <input name="world_id" placeholder="all worlds (a,b,…)">'
        '</label><label>Schema <select name="schema_version"><option>1</option>'
        '<option selected>2</option><option>3</option></select></label>'
        '<button class="primary" type="submit">Apply filters</button></form>'
        '<div class="stream-bar"><span id="stream-state" class="badge muted" '
        'data-state="connecting">connecting</span><span class="muted small">last seq '
        '<code id="last-seq">—</code> · <span id="event-count">0</span> events</span>'
        '<span class="spacer"></span><button id="pause" class="secondary" type="button">Pause'
        '</button><button id="clear" class="secondary" type="button">Clear</button></div>')
    body = _panel("Event stream", controls + '<ol id="events" class="events" '
                  'aria-live="polite"></ol><p id="events-empty" class="empty">No events yet. '
                  "Events appear here as they happen; after a dropped connection the stream "
                  "resumes from the last sequence number seen.</p>")
    return page("events", "Live events", body, scripts=["events.js"])


def plans_page() -> str:
    """Applied plans and executions, each a list with cursor paging."""
    plans_filter = ('<form class="inline" hx-get="/console/fragments/plans" hx-target="#plans">'
                    '<input name="world_id" placeholder="world id (all)" aria-label="world">'
                    '<button class="secondary">Filter</button></form>')
    open_execution = ('<form class="inline" hx-get="/console/fragments/execution" '
                      'hx-target="#execution"><input name="execution_id" required '
                      'placeholder="execution id" aria-label="execution id"><button '
                      'class="secondary">Open</button></form>')
    body = (_panel("Applied plans", _loading("/console/fragments/plans", "plans"),
                   actions=plans_filter)
            + _panel("Executions", _loading("/console/fragments/executions", "executions")
                     + '<div id="execution"></div>', actions=open_execution))
    return page("plans", "Plans & executions", body)


def preview_page() -> str:
    """Positions and targets in; the plan as tables and a chart out, without applying."""
    form = (
        '<form id="preview-form" hx-post="/console/fragments/preview" hx-ext="wg-json" '
        'hx-target="#preview-result" hx-indicator="#preview-busy">'
        '<label>Positions <span class="muted small">CSV with a header, or JSON</span>'
        f'<textarea name="positions" rows="7" spellcheck="false">{e(_SAMPLE_POSITIONS)}'
        '</textarea></label><label class="file">Load a file <input type="file" '
        'accept=".csv,.json,text/csv,application/json" data-load-into="positions"></label>'
        '<div class="grid three"><label>Target allocations <input name="targets" '
        'value="core=0.3, alpha=0.25" placeholder="world=fraction, …"></label>'
        '<label>Current allocations <input name="before" placeholder="derived from the '
        'positions"></label><label>Total equity <input name="total_equity" '
        'inputmode="decimal" placeholder="gross notional of the positions"></label></div>'
        '<details><summary>Policy (schema v3)</summary><textarea name="policy" rows="4" '
        'spellcheck="false" placeholder=\'{"band": 0.01, "max_turnover": 0.2}\'></textarea>'
        '</details><details><summary>Or paste a whole request</summary><textarea '
        'name="request" rows="6" spellcheck="false" placeholder="a MultiWorldRebalanceRequest '
        'as JSON: used instead of the fields above"></textarea></details>'
        '<div class="actions"><button class="primary" type="submit">Preview plan</button>'
        '<span id="preview-busy" class="htmx-indicator muted">Planning…</span></div></form>')
    body = ('<div class="grid preview">' + _panel("Positions and targets", form)
            + '<div id="preview-result"><section class="panel"><p class="muted">The plan '
            "appears here: per-world deltas, the netted global deltas, skipped deltas and the "
            "projection (schema v3), and the weights before and after. Nothing is applied "
            "until you press Apply.</p></section></div></div>")
    return page("preview", "Plan preview", body)


def risk_page() -> str:
    """Halt / reduce / resume a world or everything, with a reason and a confirmation."""
    add = ('<form class="inline change" hx-post="/console/fragments/risk" hx-ext="wg-json" '
           'hx-target="#risk-states" hx-confirm="change" data-confirm-scope="a new world">'
           '<input name="world_id" required placeholder="world id" aria-label="new world id">'
           '<input type="hidden" name="etag" value=""><input name="reason" required '
           'placeholder="reason" aria-label="reason"><button name="state" value="HALTED" '
           'class="danger">Halt</button><button name="state" value="REDUCING" class="warn">'
           "Reduce only</button></form>")
    body = (_panel("Trading states", _loading("/console/fragments/risk?controls=1",
                                              "risk-states"), actions=add)
            + '<div class="grid two">'
            + _panel("Recent changes", _loading("/console/fragments/risk-history", "history",
                                                       ", wg-risk-changed from:body"))
            + _panel("Limits in force", _loading("/console/fragments/risk-limits", "limits"))
            + "</div>")
    return page("risk", "Risk", body)


def reports_page() -> str:
    """The tear sheet of a world (or all) from its stored plans."""
    form = ('<form class="inline" hx-get="/console/fragments/report" hx-target="#report">'
            '<input name="world_id" placeholder="world id (all worlds)" aria-label="world">'
            '<button class="primary">Show</button></form>')
    body = _panel("Tear sheet from stored plans",
                  _loading("/console/fragments/report", "report"), actions=form, cls="report")
    return page("reports", "Reports", body)
