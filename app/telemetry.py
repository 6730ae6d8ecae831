"""Prometheus instruments of one app, on a registry of its own (apps and tests never collide)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

__all__ = [
    "CONTENT_TYPE",
    "HTTP_METHODS",
    "OTHER_METHOD",
    "UNMATCHED_ROUTE",
    "AppMetrics",
    "method_label",
]

#: The media type of the ``/metrics`` answer (Prometheus text format 0.0.4; Litestar adds
#: the charset).
CONTENT_TYPE = "text/plain; version=0.0.4"
#: The route label of requests that matched no route (keeps label cardinality bounded).
UNMATCHED_ROUTE = "<unmatched>"

#: The HTTP methods counted under their own name; any other method a client invents is
#: counted as ``OTHER_METHOD`` (a label takes its values from a bounded set).
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "other"


def method_label(method: str) -> str:
    """The ``method`` label of a request: a standard method, or ``"other"``."""
    return method if method in HTTP_METHODS else OTHER_METHOD


_LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)


class AppMetrics:
    """The instruments every component reports to; one instance per app (container singleton).

    Services take it from the container and call the small methods below; the HTTP
    middleware records requests; ``GET /metrics`` renders :meth:`render`.

    Args:
        registry: where instruments are registered; a fresh ``CollectorRegistry`` when None.
        namespace: the metric name prefix.
    """

    def __init__(
        self, registry: CollectorRegistry | None = None, namespace: str = "worldgate"
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        ns = namespace
        r = self.registry
        self.http_requests = Counter(
            "http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            namespace=ns,
            registry=r,
        )
        self.http_request_seconds = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency, by method and route template.",
            ["method", "route"],
            namespace=ns,
            registry=r,
            buckets=_LATENCY_BUCKETS,
        )
        self.http_in_flight = Gauge(
            "http_requests_in_flight",
            "HTTP requests being handled now.",
            namespace=ns,
            registry=r,
        )
        self.http_connections_closed = Counter(
            "http_connections_closed",
            "Connections the server cut, by reason (idle_timeout, header_timeout, "
            "body_timeout, over_limit).",
            ["reason"],
            namespace=ns,
            registry=r,
        )
        self.plans_computed = Counter(
            "plans_computed",
            "Rebalance plans computed, by schema version and mode.",
            ["schema_version", "mode"],
            namespace=ns,
            registry=r,
        )
        self.applies = Counter(
            "plan_applies",
            "Plan applies, by outcome (stored or replayed).",
            ["outcome"],
            namespace=ns,
            registry=r,
        )
        self.executions = Counter(
            "executions",
            "Gateway executions, by kind (dry_run or submitted).",
            ["kind"],
            namespace=ns,
            registry=r,
        )
        self.events_published = Counter(
            "events_published",
            "Events the outbox publisher put on the ControlBus, by topic.",
            ["topic"],
            namespace=ns,
            registry=r,
        )
        self.events_relayed = Counter(
            "events_relayed",
            "Event messages sent to WebSocket clients.",
            namespace=ns,
            registry=r,
        )
        self.events_dropped = Counter(
            "events_dropped",
            "Events not delivered to a WebSocket client, by reason.",
            ["reason"],
            namespace=ns,
            registry=r,
        )
        self.ws_clients = Gauge(
            "websocket_clients",
            "Connected WebSocket clients.",
            namespace=ns,
            registry=r,
        )
        self.auth_refusals = Counter(
            "auth_refusals",
            "Calls refused by the access control, by status (401, 403) and reason.",
            ["status", "reason"],
            namespace=ns,
            registry=r,
        )
        self.rate_limits = Counter(
            "rate_limited_requests",
            "Calls refused with 429 because their key was over its request budget.",
            namespace=ns,
            registry=r,
        )
        self.audit_failures = Counter(
            "audit_write_failures",
            "Audit records the store could not take (each is also logged).",
            namespace=ns,
            registry=r,
        )
        self.outbox_backlog = Gauge(
            "outbox_backlog",
            "Stored events not yet published to the ControlBus.",
            namespace=ns,
            registry=r,
        )

    def auth_refused(self, status: int, reason: str) -> None:
        """Count one call refused by the access control (401/403), by a short reason."""
        self.auth_refusals.labels(str(status), reason).inc()

    def rate_limited(self) -> None:
        """Count one call refused with 429 for its key's request budget."""
        self.rate_limits.inc()

    def audit_failed(self) -> None:
        """Count one audit record the store could not take."""
        self.audit_failures.inc()

    def request_finished(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered HTTP request and observe its latency.

        ``method`` is reduced to :data:`HTTP_METHODS` or ``"other"`` and ``status`` to a
        three-digit code, so no client can add series at will.
        """
        label = method_label(method)
        code = str(status) if 100 <= status <= 599 else "other"
        self.http_requests.labels(label, route, code).inc()
        self.http_request_seconds.labels(label, route).observe(seconds)

    def connection_closed(self, reason: str) -> None:
        """Count one connection the server cut (slow, idle or over the limit)."""
        self.http_connections_closed.labels(reason).inc()

    def plan_computed(self, schema_version: int = 1, mode: str = "scaling") -> None:
        """Count one computed plan (``/plan``, ``/apply``, ``/allocations``)."""
        self.plans_computed.labels(str(schema_version), mode).inc()

    def apply_recorded(self, replayed: bool = False) -> None:
        """Count one apply: stored anew, or an idempotent replay of a stored ``run_id``."""
        self.applies.labels("replayed" if replayed else "stored").inc()

    def execution_recorded(self, submitted: bool) -> None:
        """Count one ``/rebalancing/execute`` answer (submitted, or a dry run)."""
        self.executions.labels("submitted" if submitted else "dry_run").inc()

    def event_published(self, topic: str, count: int = 1) -> None:
        """Count events published on the ControlBus under ``topic``."""
        self.events_published.labels(topic).inc(count)

    def event_relayed(self, count: int = 1) -> None:
        """Count event messages sent to WebSocket clients."""
        self.events_relayed.inc(count)

    def event_dropped(self, reason: str = "lagging", count: int = 1) -> None:
        """Count events a WebSocket client did not get (``lagging``, ``too_large``, ...)."""
        self.events_dropped.labels(reason).inc(count)

    def render(self) -> bytes:
        """Return every instrument in the Prometheus text exposition format."""
        return generate_latest(self.registry)
