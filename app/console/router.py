"""The ``/console`` router: pages, fragments, actions and the console's own static files."""

from __future__ import annotations

from pathlib import Path

from litestar import Response, Router, get
from litestar.datastructures import CacheControlHeader
from litestar.di import Provide
from litestar.static_files import create_static_files_router

from app.console.actions import ACTIONS
from app.console.client import ApiTarget
from app.console.fragments import READ_FRAGMENTS
from app.console.pages import (
    events_page,
    overview_page,
    plans_page,
    preview_page,
    reports_page,
    risk_page,
)
from app.sdk.report_page import CSS as REPORT_CSS

__all__ = ["STATIC_DIR", "console_router"]

STATIC_DIR = Path(__file__).with_name("static")
_HTML = "text/html; charset=utf-8"


def _page(html: str) -> Response[str]:
    return Response(content=html, media_type=_HTML)


@get(["/", ""], sync_to_thread=False, name="console_overview")
def overview() -> Response[str]:
    """The overview page."""
    return _page(overview_page())


@get("/events", sync_to_thread=False)
def events() -> Response[str]:
    """The live events page."""
    return _page(events_page())


@get("/plans", sync_to_thread=False)
def plans() -> Response[str]:
    """The plans and executions page."""
    return _page(plans_page())


@get("/preview", sync_to_thread=False)
def preview() -> Response[str]:
    """The plan preview page."""
    return _page(preview_page())


@get("/risk", sync_to_thread=False)
def risk() -> Response[str]:
    """The risk page."""
    return _page(risk_page())


@get("/reports", sync_to_thread=False)
def reports() -> Response[str]:
    """The reports page."""
    return _page(reports_page())


@get("/report.css", sync_to_thread=False, cache_control=CacheControlHeader(max_age=3600))
def report_css() -> Response[str]:
    """The tear sheet's stylesheet, so console charts and tables look like the reports'."""
    return Response(content=REPORT_CSS, media_type="text/css; charset=utf-8")


def console_router(*, api_url: str | None = None, worldservice_url: str | None = None) -> Router:
    """Build the ``/console`` router.

    Args:
        api_url: ``console.api_url``: where the console calls the public API (None = the
            address each request arrived on).
        worldservice_url: ``gateway.worldservice_url`` (None = ``<api>/worldservice``).
    """
    target = ApiTarget(api_url, worldservice_url)
    static = create_static_files_router(
        path="/static", directories=[STATIC_DIR], include_in_schema=False,
        name="console_static", cache_control=CacheControlHeader(max_age=3600),
    )
    return Router(
        path="/console",
        route_handlers=[overview, events, plans, preview, risk, reports, report_css,
                        *READ_FRAGMENTS, *ACTIONS, static],
        dependencies={"api": Provide(lambda: target, sync_to_thread=False)},
        include_in_schema=False,
        # Needs no key of its own: every call it makes forwards the browser's key to the
        # public API, which checks that key's scopes and audits the call.
        opt={"public": True},
    )
