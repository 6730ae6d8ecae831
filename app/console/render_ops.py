"""Operations panels as HTML: health and capabilities, the rollout checklist, trading states."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from app.console.html import badge, e, fmt_num, fmt_time, table
from app.sdk.checks import Check

__all__ = ["health_html", "history_html", "limits_html", "rollout_html", "states_html",
           "status_html"]

_STATES = (("HALTED", "Halt", "danger"), ("REDUCING", "Reduce only", "warn"),
           ("ACTIVE", "Resume", "primary"))


def _facts(items: Sequence[tuple[str, str]]) -> str:
    return '<dl class="facts">' + "".join(f"<div><dt>{e(k)}</dt><dd>{v}</dd></div>"
                                          for k, v in items) + "</dl>"


def health_html(health: Mapping[str, Any]) -> str:
    """``GET /health``: overall status, each component, the capability bits."""
    raw_caps = health.get("capabilities")
    caps: Mapping[str, Any] = raw_caps if isinstance(raw_caps, Mapping) else {}
    status = str(health.get("status", "?"))
    reason = health.get("reason")
    components = "".join(
        f'<div class="component"><span>{e(name)}</span>{badge(health.get(name, "?"))}</div>'
        for name in ("worldservice", "controlbus", "store"))
    bits = [("rebalance_schema_version", e(caps.get("rebalance_schema_version",
                                                    health.get("rebalance_schema_version")))),
            ("alpha_metrics_capable", badge(bool(caps.get("alpha_metrics_capable",
                                                          health.get("alpha_metrics_capable"))))),
            ("worldservice serves up to", e(f"v{health.get('worldservice_max_schema_version')}"
                                            if health.get("worldservice_max_schema_version")
                                            else "unknown")),
            ("compute_context_contract", e(caps.get("compute_context_contract") or "—")),
            ("checked", e(fmt_time(health.get("checked_at"))))]
    note = f'<p class="alert warn">{e(reason)}</p>' if reason else ""
    return (f'<div class="status-line"><span>Gateway</span>{badge(status)}</div>{note}'
            f'<div class="components">{components}</div><h3>Capability bits</h3>{_facts(bits)}')


def status_html(status: Mapping[str, Any]) -> str:
    """``GET /status``: the running configuration."""
    keys = ("version", "roles", "worldservice_mode", "worldservice_url", "enforce_live_guard",
            "flip_policy", "shared_account_enabled", "worldservice_compat_rebalance_v2",
            "worldservice_alpha_metrics_required")
    items = []
    for key in keys:
        if key in status:
            value = status[key]
            shown = badge(value) if isinstance(value, bool) else e(
                ", ".join(value) if isinstance(value, list) else value)
            items.append((key, shown))
    return _facts(items)


def rollout_html(
    checks: Sequence[Check], url: str, checked_at: str, configured: object, target: int
) -> str:
    """The rollout checklist of schema ``target``: each row ✅/❌ with its evidence."""
    ready = bool(checks) and all(c.ok for c in checks)
    rows = [[("✅" if c.ok else "❌"), e(c.name), e(c.evidence)] for c in checks]
    verdict = badge("READY" if ready else "NOT READY", "ok" if ready else "bad")
    return (f'<div class="status-line"><span>Schema v{target} rollout</span>{verdict}'
            f'<span class="muted small">{e(url)} · {e(checked_at)} · Gateway configured for '
            f"v{e(configured)}</span></div>"
            + table(["", "check", "evidence"], rows, cls="checks"))


def _row_form(scope: str, world: str, view: Mapping[str, Any]) -> str:
    buttons = "".join(f'<button name="state" value="{s}" class="{cls}">{e(label)}</button>'
                      for s, label, cls in _STATES if s != view.get("state"))
    return (f'<form class="change" hx-post="/console/fragments/risk" hx-ext="wg-json" '
            f'hx-target="#risk-states" hx-confirm="change" data-confirm-scope="{e(scope)}">'
            f'<input type="hidden" name="world_id" value="{e(world)}">'
            f'<input type="hidden" name="etag" value="{e(view.get("etag", ""))}">'
            f'<input name="reason" required maxlength="500" placeholder="reason" '
            f'aria-label="reason for {e(scope)}">{buttons}</form>')


def states_html(reply: Mapping[str, Any], *, controls: bool, flash: str = "") -> str:
    """``GET /risk/state`` as a table; with ``controls``, a change form on every row."""
    raw_global, raw_worlds = reply.get("global"), reply.get("worlds")
    global_view: Mapping[str, Any] = raw_global if isinstance(raw_global, Mapping) else {}
    worlds: Mapping[str, Any] = raw_worlds if isinstance(raw_worlds, Mapping) else {}
    entries: list[tuple[str, str, Mapping[str, Any]]] = [("everything (global)", "", global_view)]
    entries += [(f"world {w}", w, v) for w, v in sorted(worlds.items()) if isinstance(v, Mapping)]
    rows = []
    for label, world, view in entries:
        row = [f"<strong>{e(world or 'global')}</strong>", badge(view.get("state", "ACTIVE")),
               e(view.get("reason") or "—"), e(view.get("actor") or "—"),
               e(fmt_time(view.get("updated_at")) or "never")]
        if controls:
            row.append(_row_form(label, world, view))
        rows.append(row)
    headers = ["scope", "state", "reason", "actor", "changed"] + (["change"] if controls else [])
    return flash + table(headers, rows, cls="states")


def history_html(reply: Mapping[str, Any]) -> str:
    """``GET /risk/history``: every change, newest first."""
    rows = [[e(fmt_time(c.get("changed_at"))), e(c.get("world_id") or "global"),
             f'{badge(c.get("previous_state", "?"))} → {badge(c.get("state", "?"))}',
             e(c.get("reason", "")), e(c.get("actor", ""))]
            for c in reply.get("changes") or [] if isinstance(c, Mapping)]
    return table(["when", "scope", "change", "reason", "actor"], rows,
                 empty="No trading state was ever changed.")


def limits_html(limits: Mapping[str, Any]) -> str:
    """``GET /risk/limits``: the pre-trade limits in force (unset = no limit)."""
    items = []
    for key, value in limits.items():
        if isinstance(value, Mapping):
            continue
        shown = "no limit" if value is None else fmt_num(value)
        items.append((key, e(shown)))
    restricted = limits.get("restricted")
    if isinstance(restricted, Mapping):
        buys = ", ".join(restricted.get("do_not_buy") or []) or "—"
        sells = ", ".join(restricted.get("do_not_sell") or []) or "—"
        items += [("do not buy", e(buys)), ("do not sell", e(sells))]
    return _facts(items)
