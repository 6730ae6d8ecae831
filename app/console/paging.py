"""How the console pages through list routes: the one place that knows the paging contract.

List answers carry an opaque ``next`` cursor (null on the last page); the next page is the
same request with ``cursor=<next>``. Servers whose lists have no cursor yet answer one page
(``next`` absent) and the console shows no "older" button. ``GET /rebalancing/executions``
(``{"executions": [...], "next"}``) may not exist on an older Gateway (404/405): the console
then says so and still opens any execution by id.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.sdk.errors import WorldgateError

__all__ = [
    "CURSOR_PARAM",
    "EXECUTIONS_PATH",
    "PAGE_SIZE",
    "Page",
    "executions_missing",
    "page_of",
    "page_params",
]

CURSOR_PARAM = "cursor"
EXECUTIONS_PATH = "/rebalancing/executions"
PAGE_SIZE = 20


class Page:
    """One page of a list answer.

    Attributes:
        items: the page's entries (objects only).
        next: the cursor of the next page, or None on the last one.
    """

    def __init__(self, items: list[dict[str, Any]], next_cursor: str | None) -> None:
        self.items = items
        self.next = next_cursor


def page_params(
    cursor: str | None, limit: int = PAGE_SIZE, *, filters: Mapping[str, str | None] | None = None
) -> dict[str, str]:
    """Query parameters for one page (empty filters left out)."""
    params = {"limit": str(limit), **{k: v for k, v in (filters or {}).items() if v}}
    if cursor:
        params[CURSOR_PARAM] = cursor
    return params


def page_of(answer: Any, key: str) -> Page:
    """Read ``{key: [...], "next": cursor}`` tolerantly (a bare list is one last page)."""
    items: Any = answer.get(key) if isinstance(answer, Mapping) else answer
    entries = [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []
    cursor = answer.get("next") if isinstance(answer, Mapping) else None
    if isinstance(cursor, int) and not isinstance(cursor, bool):
        cursor = str(cursor)
    return Page(entries, cursor if isinstance(cursor, str) and cursor else None)


def executions_missing(exc: WorldgateError) -> bool:
    """True when the Gateway has no executions list route (an older Gateway)."""
    return exc.status in (404, 405)
