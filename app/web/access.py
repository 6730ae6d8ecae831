"""Request metrics and the access log: one count, one latency and one line per answer.

The same layer gives each HTTP request its request id (bound to its log lines, echoed on its
answer) unless a :class:`~app.web.request_id.RequestIdMiddleware` in front of it already
did: one wrapper around the app and one around ``send`` per request, not two of each.
"""

from __future__ import annotations

import time

import structlog
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from app.telemetry import UNMATCHED_ROUTE, AppMetrics, method_label
from app.web.request_id import (
    REQUEST_ID_KEY,
    REQUEST_ID_SCOPE_KEY,
    request_id_from,
    with_request_id,
)

__all__ = ["AccessMiddleware"]

log = structlog.get_logger(__name__)


class AccessMiddleware(ASGIMiddleware):
    """Counts HTTP requests and their latency by route template, and logs each answer.

    Requests are labelled by their route template (``/rebalancing/executions/{id}``), never
    by the raw path, so the number of time series stays bounded.

    Args:
        metrics: the app's instruments.
        access_log: write one ``http_request`` line per answered request.
    """

    scopes = (ScopeType.HTTP,)

    def __init__(self, metrics: AppMetrics, access_log: bool = True) -> None:
        self.metrics = metrics
        self.access_log = access_log

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        """Serve one request in its request-id context, then count and log it."""
        status = 500
        chosen = scope.get(REQUEST_ID_SCOPE_KEY)
        if isinstance(chosen, str):  # a RequestIdMiddleware in front bound and echoes it
            tokens = None
            echo: tuple[bytes, bytes] | None = None
        else:
            request_id = request_id_from(scope)
            scope[REQUEST_ID_SCOPE_KEY] = request_id  # type: ignore[literal-required]
            tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
            echo = (REQUEST_ID_KEY, request_id.encode("latin-1"))

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if echo is not None:
                    headers = list(message.get("headers", ()))
                    if not any(key.lower() == REQUEST_ID_KEY for key, _ in headers):
                        message["headers"] = [*headers, echo]
            await send(message)

        method = str(scope.get("method", ""))
        started = time.perf_counter()
        self.metrics.http_in_flight.inc()
        try:
            await next_app(scope, receive, send_and_note)
        finally:
            elapsed = time.perf_counter() - started
            self.metrics.http_in_flight.dec()
            route = scope.get("path_template") or UNMATCHED_ROUTE
            self.metrics.request_finished(method, route, status, elapsed)
            if self.access_log:
                log.info(
                    "http_request",
                    method=method_label(method),
                    route=route,
                    status=status,
                    duration_ms=round(elapsed * 1000, 3),
                )
            if tokens is not None:
                structlog.contextvars.reset_contextvars(**tokens)

    async def tag_unmatched(self, message: Message, scope: Scope) -> None:
        """``before_send`` hook for answers no route produced (404, 405 from routing).

        Litestar runs app middleware only for matched routes; this hook gives those other
        answers a request id too and counts them under the ``<unmatched>`` route label.
        """
        if message["type"] != "http.response.start" or scope["type"] != ScopeType.HTTP:
            return
        headers = message.get("headers", ())
        if any(key.lower() == REQUEST_ID_KEY for key, _ in headers):
            return  # a matched route: the middleware chain counted and tagged it
        with_request_id(message, request_id_from(scope))
        self.metrics.http_requests.labels(
            method_label(str(scope.get("method", ""))), UNMATCHED_ROUTE, str(message["status"])
        ).inc()
