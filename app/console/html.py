"""HTML building blocks of the console: escaping, the page shell, panels, tables, badges."""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, datetime

from app.sdk.errors import SdkError, Unreachable, WorldgateError

__all__ = ["NAV", "badge", "e", "error_panel", "fmt_num", "fmt_time", "page", "table"]

STATIC = "/console/static"
NAV: tuple[tuple[str, str], ...] = (
    ("overview", "Overview"), ("events", "Live events"), ("plans", "Plans & executions"),
    ("preview", "Plan preview"), ("risk", "Risk"), ("reports", "Reports"),
)
_TONES = {"ok": "ok", "ACTIVE": "ok", "completed": "ok", "submitted": "ok", "true": "ok",
          "degraded": "warn", "REDUCING": "warn", "completed_adjusted": "warn",
          "previewed": "info", "absent": "muted", "false": "muted",
          "down": "bad", "HALTED": "bad", "rejected": "bad"}


def e(text: object) -> str:
    """Escape for HTML text and attributes."""
    return html.escape(str(text), quote=True)


def fmt_num(value: object, digits: int = 6) -> str:
    """A number without float noise (``0.3``, ``-12``, ``1.5e-07``); anything else as text."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "" if value is None else str(value)
    return f"{value:.{digits}g}" if abs(value) < 1e15 else f"{value:.4e}"


def fmt_time(value: object) -> str:
    """Unix seconds or an ISO string as ``YYYY-MM-DD HH:MM:SS UTC``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
        return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return ""


def badge(text: object, tone: str | None = None) -> str:
    """A small coloured label; the tone follows the text (``HALTED`` is red) unless given."""
    label = str(text).lower() if isinstance(text, bool) else str(text)
    return f'<span class="badge {tone or _TONES.get(label, "info")}">{e(label)}</span>'


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, numeric: Sequence[int] = (),
          cls: str = "", empty: str = "Nothing to show.") -> str:
    """A table whose cells are already HTML (escape text with :func:`e` first)."""
    if not rows:
        return f'<p class="empty">{e(empty)}</p>'

    def cell(tag: str, i: int, content: str) -> str:
        cls = ' class="num"' if i in numeric else ""
        return f"<{tag}{cls}>{content}</{tag}>"

    head = "".join(cell("th", i, e(h)) for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(cell("td", i, c) for i, c in enumerate(row)) + "</tr>"
                   for row in rows)
    attr = f' class="{e(cls)}"' if cls else ""
    return (f'<div class="scroll"><table{attr}><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")


def error_panel(exc: SdkError, what: str) -> str:
    """An API error as a panel: status, code, detail, bad fields; a token button on 401/403."""
    if isinstance(exc, Unreachable):
        return (f'<div class="alert bad" role="alert"><strong>{e(what)}: the API is '
                f"unreachable.</strong> {e(exc.reason)}</div>")
    if not isinstance(exc, WorldgateError):
        return f'<div class="alert bad" role="alert"><strong>{e(what)}:</strong> {e(exc)}</div>'
    items = "".join(f"<li><code>{e(i.get('path', ''))}</code> {e(i.get('message', ''))}</li>"
                    for i in exc.errors)
    fields = f"<ul>{items}</ul>" if items else ""
    token = ""
    if exc.status in (401, 403):
        token = ' <button type="button" class="link" data-open-token>Enter a token</button>'
    return (f'<div class="alert bad" role="alert" data-status="{exc.status}">'
            f"<strong>{e(what)}: {exc.status} <code>{e(exc.code)}</code></strong> "
            f"{e(exc.detail)}{token}{fields}</div>")


def page(active: str, title: str, body: str, *, scripts: Sequence[str] = ()) -> str:
    """A whole console page: header with navigation and the token control, then ``body``."""
    links = "".join(
        f'<a href="/console/{"" if key == "overview" else key}"'
        f'{" aria-current=page" if key == active else ""}>{e(label)}</a>' for key, label in NAV)
    modules = "".join(f'<script type="module" src="{STATIC}/{e(s)}"></script>' for s in scripts)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(title)} · Worldgate console</title>"
        f'<link rel="icon" type="image/svg+xml" href="{STATIC}/favicon.svg">'
        '<link rel="stylesheet" href="/console/report.css">'
        f'<link rel="stylesheet" href="{STATIC}/console.css">'
        f'<script src="{STATIC}/vendor/htmx/htmx.min.js"></script>'
        f'<script type="module" src="{STATIC}/console.js"></script>{modules}</head>'
        f'<body hx-headers=\'{{"X-Worldgate-Console": "1"}}\'>'
        '<header class="topbar"><a class="brand" href="/console/">Worldgate</a>'
        f'<nav>{links}</nav><button type="button" id="token-button" class="token" '
        'data-open-token>Token: not set</button></header>'
        f'<main><h1 class="page-title">{e(title)}</h1>{body}</main>'
        '<dialog id="token-dialog"><form method="dialog"><h2>Bearer token</h2>'
        "<p>Sent as <code>Authorization: Bearer …</code> on every call the console makes, and "
        "on the event stream. Kept in this tab's session storage only.</p>"
        '<input type="password" id="token-input" autocomplete="off" placeholder="token" '
        'aria-label="token"><menu><button value="forget" class="secondary">Forget</button>'
        '<button value="cancel" class="secondary">Cancel</button>'
        '<button value="save" class="primary">Save</button></menu></form></dialog>'
        '<dialog id="confirm-dialog"><form method="dialog"><h2>Please confirm</h2>'
        '<p id="confirm-text"></p><menu><button value="cancel" class="secondary">Cancel'
        '</button><button value="ok" class="danger" id="confirm-ok">Confirm</button></menu>'
        "</form></dialog></body></html>\n"
    )
