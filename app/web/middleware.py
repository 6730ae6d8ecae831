"""Request middleware: a request id bound to every log line, request counts and latency."""

from __future__ import annotations

import re
import time
import uuid

import structlog
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from app.telemetry import UNMATCHED_ROUTE, AppMetrics
from app.web.auth import http_denial_for_websockets
from app.runtime.shutdown import Drain

__all__ = ["REQUEST_ID_HEADER", "RequestContextMiddleware", "request_id_from"]

#: The header a caller may send (and every HTTP answer carries) to correlate log lines.
REQUEST_ID_HEADER = "x-request-id"

log = structlog.get_logger(__name__)

# A caller-chosen id is echoed into logs, so only plain tokens are accepted (no log
# injection, no unbounded size); anything else is replaced by a fresh id.
_VALID_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_HEADER_KEY = REQUEST_ID_HEADER.encode("latin-1")


def request_id_from(scope: Scope) -> str:
    """Return the caller's ``X-Request-ID`` when it is a plain token, else a new uuid4 hex."""
    for key, value in scope.get("headers", ()):
        if key.lower() == _HEADER_KEY:
            candidate = value.decode("latin-1")
            if _VALID_ID.match(candidate):
                return candidate
            break
    return uuid.uuid4().hex


class RequestContextMiddleware(ASGIMiddleware):
    """Binds ``request_id`` (structlog contextvars), echoes it, and records request metrics.

    Requests are labelled by their route template (``/rebalancing/executions/{id}``), never
    by the raw path, so the number of time series stays bounded.

    Args:
        metrics: the app's instruments.
        drain: tracks WebSocket connections so a shutdown can close them with 1001.
        access_log: write one ``http_request`` line per answered request.
    """

    scopes = (ScopeType.HTTP, ScopeType.WEBSOCKET)

    def __init__(
        self, metrics: AppMetrics, drain: Drain | None = None, access_log: bool = True
    ) -> None:
        self.metrics = metrics
        self.drain = drain
        self.access_log = access_log

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        """Serve one connection inside its request context."""
        request_id = request_id_from(scope)
        if scope["type"] != ScopeType.HTTP:
            with structlog.contextvars.bound_contextvars(request_id=request_id):
                if self.drain is None:
                    await next_app(scope, receive, http_denial_for_websockets(scope, send))
                    return
                socket = self.drain.open_websocket(send)
                try:
                    await next_app(scope, receive, http_denial_for_websockets(scope, socket.send))
                finally:
                    self.drain.forget(socket)
            return
        status = 500
        header = (_HEADER_KEY, request_id.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        method = scope["method"]
        started = time.perf_counter()
        self.metrics.http_in_flight.inc()
        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await next_app(scope, receive, send_with_id)
            finally:
                elapsed = time.perf_counter() - started
                self.metrics.http_in_flight.dec()
                route = scope.get("path_template") or UNMATCHED_ROUTE
                self.metrics.request_finished(method, route, status, elapsed)
                if self.access_log:
                    log.info(
                        "http_request",
                        method=method,
                        route=route,
                        status=status,
                        duration_ms=round(elapsed * 1000, 3),
                    )

    async def tag_unmatched(self, message: Message, scope: Scope) -> None:
        """``before_send`` hook for answers no route produced (404, 405 from routing).

        Litestar runs app middleware only for matched routes; this hook gives those other
        answers a request id too and counts them under the ``<unmatched>`` route label.
        """
        if message["type"] != "http.response.start" or scope["type"] != ScopeType.HTTP:
            return
        headers = list(message.get("headers", ()))
        if any(key.lower() == _HEADER_KEY for key, _ in headers):
            return
        request_id = request_id_from(scope)
        message["headers"] = [*headers, (_HEADER_KEY, request_id.encode("latin-1"))]
        self.metrics.http_requests.labels(
            scope.get("method", ""), UNMATCHED_ROUTE, str(message["status"])
        ).inc()
