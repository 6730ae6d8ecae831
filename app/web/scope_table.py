"""The table of routes and the scope each needs, read from an app's routes.

``docs/security.md`` carries this table between two markers, and a test compares it with
what :func:`scope_table` renders for the app, so the page cannot drift from the routes.
Print it with ``worldgate scopes``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Final

from litestar import Litestar
from litestar.handlers import HTTPRouteHandler, WebsocketRouteHandler

from app.web.auth import SCOPE_NOTE_OPT, required_scope

__all__ = ["TABLE_END", "TABLE_START", "scope_rows", "scope_table"]

TABLE_START: Final = "<!-- scope-table:start (generated: worldgate scopes --markdown) -->"
TABLE_END: Final = "<!-- scope-table:end -->"
#: Route prefixes shown as one row per method (the OpenAPI pages, the console).
_COLLAPSED: Final = ("/schema", "/console")
_METHOD_ORDER: Final = {"GET": 0, "POST": 1, "PUT": 2, "PATCH": 3, "DELETE": 4, "WS": 5}
_PARAM_TYPE: Final = re.compile(r"\{(\w+):\w+\}")


def _handlers(app: Litestar) -> Iterator[tuple[str, str, str | None, str | None]]:
    """``(method, path, scope, note)`` of every route of ``app``."""
    for route in app.routes:
        path = _PARAM_TYPE.sub(r"{\1}", route.path)
        collapsed = next((p for p in _COLLAPSED if path == p or path.startswith(p + "/")), None)
        handlers = getattr(route, "route_handlers", None) or [route.route_handler]  # type: ignore[union-attr]
        for handler in handlers:
            if isinstance(handler, HTTPRouteHandler):
                for method in sorted(handler.http_methods):
                    if method in ("HEAD", "OPTIONS"):
                        continue
                    shown = f"{collapsed}/*" if collapsed else path
                    note = handler.opt.get(SCOPE_NOTE_OPT)
                    yield method, shown, required_scope(handler, method), note
            elif isinstance(handler, WebsocketRouteHandler):
                yield "WS", path, required_scope(handler, None), handler.opt.get(SCOPE_NOTE_OPT)


def scope_rows(app: Litestar) -> list[tuple[str, str, str]]:
    """``(method, route, scope)`` rows, one per route and method, sorted by route."""
    rows = {
        (method, path, "public (no key)" if scope is None else
         f"`{scope}`" + (f" {note}" if note else ""))
        for method, path, scope, note in _handlers(app)
    }
    return sorted(rows, key=lambda r: (r[1], _METHOD_ORDER.get(r[0], 9)))


def scope_table(app: Litestar) -> str:
    """The Markdown table of :func:`scope_rows`, between the page's markers."""
    lines = [TABLE_START, "", "| method | route | scope |", "|---|---|---|"]
    lines += [f"| {m} | `{p}` | {s} |" for m, p, s in scope_rows(app)]
    lines += ["", TABLE_END]
    return "\n".join(lines)


