"""``GET /metrics``: the Prometheus text exposition of the app's instruments."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
import structlog
from litestar import Response, get
from litestar.handlers import HTTPRouteHandler

from app.telemetry import CONTENT_TYPE, AppMetrics

__all__ = ["BacklogSource", "metrics_handler"]

log = structlog.get_logger(__name__)

#: An async callable returning the number of unpublished outbox events.
BacklogSource = Callable[[], Awaitable[int]]

# A scrape must answer even when the store is slow; the gauge then keeps its last value.
_BACKLOG_TIMEOUT = 1.0


def metrics_handler(metrics: AppMetrics, backlog: BacklogSource | None = None) -> HTTPRouteHandler:
    """Build the ``GET /metrics`` handler.

    Args:
        metrics: the app's instruments.
        backlog: read before each scrape to refresh the outbox backlog gauge (the store's
            ``outbox_backlog``); None leaves the gauge to whoever sets it.

    Returns:
        A route handler for ``Litestar(route_handlers=[...])``, left out of the OpenAPI schema.
    """

    # Public: Prometheus scrapes without a key (the scope table in docs/security.md).
    @get("/metrics", include_in_schema=False, media_type=CONTENT_TYPE, cache=False,
         opt={"public": True})
    async def scrape_metrics() -> Response[bytes]:
        if backlog is not None:
            try:
                with anyio.fail_after(_BACKLOG_TIMEOUT):
                    metrics.outbox_backlog.set(await backlog())
            except Exception as exc:  # noqa: BLE001 - a scrape reports what it can
                log.warning("metrics_backlog_unavailable", error_type=type(exc).__name__)
        return Response(content=metrics.render(), media_type=CONTENT_TYPE)

    return scrape_metrics
