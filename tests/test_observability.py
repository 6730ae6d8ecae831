"""Observability: /metrics, request ids bound to log lines, structlog JSON/console output."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import structlog
from litestar import Litestar, get
from litestar.enums import ScopeType
from litestar.params import FromPath
from litestar.testing import TestClient
from prometheus_client.parser import text_string_to_metric_families

from app.runtime.logging import configure_logging
from app.telemetry import UNMATCHED_ROUTE, AppMetrics
from app.web.access import AccessMiddleware
from app.web.errors import exception_handlers
from app.web.metrics_endpoint import metrics_handler
from app.web.request_id import RequestIdMiddleware

log = structlog.get_logger("tests.observability")


def _samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    out: dict[tuple[tuple[str, str], ...], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                out[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def _small_app(metrics: AppMetrics, backlog: Any = None, ids_by_access: bool = True) -> Litestar:
    """The app's request-id, metrics and access-log layers around a few routes: HTTP request
    ids given by the access middleware, as ``create_app`` composes them (the request-id
    middleware serving WebSockets only), or by a request-id middleware in front of it."""
    @get("/items/{item_id:int}")
    async def item(item_id: FromPath[int]) -> dict[str, int]:
        log.info("item_served", item_id=item_id)
        return {"item_id": item_id}

    @get("/boom")
    async def boom() -> None:
        raise RuntimeError("unexpected")

    access = AccessMiddleware(metrics)
    ids = RequestIdMiddleware(scopes=(ScopeType.WEBSOCKET,) if ids_by_access else None)
    return Litestar(
        [item, boom, metrics_handler(metrics, backlog)],
        middleware=[ids, access],
        before_send=[access.tag_unmatched],
        exception_handlers=exception_handlers(1024 * 1024),
        logging_config=None,
    )


@pytest.fixture
def metrics() -> AppMetrics:
    return AppMetrics()


@pytest.fixture(params=[True, False], ids=["ids-by-access", "ids-in-front"])
def small(request: pytest.FixtureRequest, metrics: AppMetrics) -> Iterator[TestClient[Any]]:
    with TestClient(_small_app(metrics, ids_by_access=request.param)) as client:
        yield client


def test_each_app_has_its_own_registry() -> None:
    first, second = AppMetrics(), AppMetrics()
    first.plan_computed(2, "overlay")
    text = second.render().decode()
    assert _samples(text, "worldgate_plans_computed_total") == {}
    assert _samples(first.render().decode(), "worldgate_plans_computed_total") == {
        (("mode", "overlay"), ("schema_version", "2")): 1.0
    }


def test_service_instruments_render(metrics: AppMetrics) -> None:
    metrics.apply_recorded()
    metrics.apply_recorded(replayed=True)
    metrics.execution_recorded(submitted=True)
    metrics.event_published("rebalancing_planned", 3)
    metrics.event_relayed(2)
    metrics.event_dropped("lagging")
    metrics.ws_clients.inc()
    metrics.outbox_backlog.set(5)
    text = metrics.render().decode()
    assert _samples(text, "worldgate_plan_applies_total") == {
        (("outcome", "stored"),): 1.0,
        (("outcome", "replayed"),): 1.0,
    }
    assert _samples(text, "worldgate_executions_total") == {(("kind", "submitted"),): 1.0}
    assert _samples(text, "worldgate_events_published_total") == {
        (("topic", "rebalancing_planned"),): 3.0
    }
    assert _samples(text, "worldgate_events_relayed_total") == {(): 2.0}
    assert _samples(text, "worldgate_events_dropped_total") == {(("reason", "lagging"),): 1.0}
    assert _samples(text, "worldgate_websocket_clients") == {(): 1.0}
    assert _samples(text, "worldgate_outbox_backlog") == {(): 5.0}


def test_requests_are_counted_by_route_template(small: TestClient[Any]) -> None:
    for item_id in (1, 2, 3):
        assert small.get(f"/items/{item_id}").status_code == 200
    assert small.get("/items/not-a-number").status_code in (400, 404)
    assert small.get("/boom").status_code == 500
    assert small.get("/nowhere").status_code == 404
    response = small.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    counts = _samples(text, "worldgate_http_requests_total")
    routes = {dict(labels)["route"] for labels in counts}
    assert any("{item_id" in route for route in routes)
    assert not any(route.endswith(("/1", "/2", "/3", "/nowhere")) for route in routes)
    by_route_status = {
        (dict(labels)["route"], dict(labels)["status"]): value for labels, value in counts.items()
    }
    template = next(route for route in routes if "{item_id" in route)
    assert by_route_status[(template, "200")] == 3.0
    assert by_route_status[("/boom", "500")] == 1.0
    assert by_route_status[(UNMATCHED_ROUTE, "404")] >= 1.0
    latency = _samples(text, "worldgate_http_request_duration_seconds_count")
    assert latency[(("method", "GET"), ("route", template))] == 3.0


def test_request_id_is_echoed_or_generated(small: TestClient[Any]) -> None:
    given = small.get("/items/1", headers={"X-Request-ID": "abc-123.x"})
    assert given.headers["x-request-id"] == "abc-123.x"
    fresh = small.get("/items/1")
    generated = fresh.headers["x-request-id"]
    assert len(generated) == 32 and int(generated, 16) >= 0
    assert small.get("/items/1").headers["x-request-id"] != generated
    unsafe = small.get("/items/1", headers={"X-Request-ID": "evil id\twith spaces" + "x" * 200})
    assert unsafe.headers["x-request-id"] != "evil id\twith spaces" + "x" * 200
    assert small.get("/nowhere", headers={"X-Request-ID": "nf-1"}).headers["x-request-id"] == (
        "nf-1"
    )


def test_backlog_is_read_at_scrape_time(metrics: AppMetrics) -> None:
    async def backlog() -> int:
        return 7

    with TestClient(_small_app(metrics, backlog)) as client:
        text = client.get("/metrics").text
    assert _samples(text, "worldgate_outbox_backlog") == {(): 7.0}


def test_scrape_survives_a_failing_backlog_source(metrics: AppMetrics) -> None:
    async def backlog() -> int:
        raise OSError("store down")

    metrics.outbox_backlog.set(4)
    with TestClient(_small_app(metrics, backlog)) as client:
        response = client.get("/metrics")
    assert response.status_code == 200
    assert _samples(response.text, "worldgate_outbox_backlog") == {(): 4.0}


def test_app_serves_metrics(client: TestClient[Any]) -> None:
    client.get("/schema/openapi.json")
    text = client.get("/metrics").text
    counts = _samples(text, "worldgate_http_requests_total")
    assert counts[(("method", "GET"), ("route", "/schema/openapi.json"), ("status", "200"))] == 1.0
    assert "worldgate_outbox_backlog" in text
    assert "worldgate_websocket_clients" in text


@pytest.fixture
def log_stream() -> Iterator[Callable[[str], io.StringIO]]:
    """Configure logging into a buffer; restore structlog and the root logger afterwards."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    saved_config = structlog.get_config()

    def setup(log_format: str) -> io.StringIO:
        stream = io.StringIO()
        configure_logging(log_format, "info", stream=stream, cache_loggers=False)  # type: ignore[arg-type]
        return stream

    yield setup
    structlog.configure(**saved_config)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved_handlers:
        root.addHandler(handler)
    root.setLevel(saved_level)


@pytest.mark.parametrize("ids_by_access", [True, False])
def test_json_logs_carry_the_request_id(
    log_stream: Callable[[str], io.StringIO], metrics: AppMetrics, ids_by_access: bool
) -> None:
    stream = log_stream("json")
    with TestClient(_small_app(metrics, ids_by_access=ids_by_access)) as client:
        client.get("/items/9", headers={"X-Request-ID": "req-9"})
        client.get("/items/10", headers={"X-Request-ID": "req-10"})
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    served = {line["item_id"]: line for line in lines if line["event"] == "item_served"}
    assert served[9]["request_id"] == "req-9"
    assert served[10]["request_id"] == "req-10"
    assert served[9]["level"] == "info" and "timestamp" in served[9]
    access = [line for line in lines if line["event"] == "http_request"]
    assert {line["request_id"] for line in access} == {"req-9", "req-10"}
    assert all(line["status"] == 200 for line in access)
    # stdlib loggers (uvicorn's, httpx's) go through the same renderer.
    logging.getLogger("tests.stdlib_probe").warning("plain stdlib line")
    last = json.loads(stream.getvalue().splitlines()[-1])
    assert last["event"] == "plain stdlib line" and last["logger"] == "tests.stdlib_probe"


def test_console_logs_are_readable_lines(log_stream: Callable[[str], io.StringIO]) -> None:
    stream = log_stream("console")
    structlog.get_logger("tests").warning("disk_nearly_full", free_mb=12)
    structlog.get_logger("tests").debug("hidden_below_level")
    out = stream.getvalue()
    assert "disk_nearly_full" in out and "free_mb=12" in out
    assert "hidden_below_level" not in out
    with pytest.raises(json.JSONDecodeError):
        json.loads(out.splitlines()[0])


def test_app_labels_path_parameters_by_template(client: TestClient[Any]) -> None:
    for execution_id in ("exec-a", "exec-b"):
        assert client.get(f"/rebalancing/executions/{execution_id}").status_code == 404
    counts = _samples(client.get("/metrics").text, "worldgate_http_requests_total")
    routes = {dict(labels)["route"]: value for labels, value in counts.items()}
    assert not any("exec-" in route for route in routes)
    template = [route for route in routes if route.startswith("/rebalancing/executions/")]
    assert len(template) == 1 and "{execution_id" in template[0]
    assert routes[template[0]] == 2.0


def test_services_report_plans_applies_and_executions(client: TestClient[Any]) -> None:
    request = {
        "total_equity": 100_000.0,
        "world_alloc_before": {"w1": 0.5},
        "world_alloc_after": {"w1": 0.25},
        "positions": [
            {"world_id": "w1", "strategy_id": "s", "symbol": "BTC", "qty": 2.0, "mark": 100.0}
        ],
    }
    assert client.post("/worldservice/rebalancing/plan", json=request).status_code == 200
    apply = {**request, "run_id": "obs-1"}
    for _ in range(2):  # the second one is an idempotent replay
        assert client.post("/worldservice/rebalancing/apply", json=apply).status_code == 200
    assert client.post("/rebalancing/execute", json=request).status_code == 200
    upsert = {
        "run_id": "obs-alloc-1",
        "total_equity": request["total_equity"],
        "world_allocations": {"w1": 0.25},
        "positions": request["positions"],
    }
    for _ in range(2):  # the second one is an idempotent replay
        assert client.post("/worldservice/allocations", json=upsert).status_code == 200
    text = client.get("/metrics").text
    plans = _samples(text, "worldgate_plans_computed_total")
    # plan + first apply + the plan behind execute + first upsert; replays compute nothing
    assert plans == {(("mode", "scaling"), ("schema_version", "1")): 4.0}
    assert _samples(text, "worldgate_plan_applies_total") == {
        (("outcome", "stored"),): 1.0,
        (("outcome", "replayed"),): 1.0,
    }
    assert _samples(text, "worldgate_executions_total") == {(("kind", "dry_run"),): 1.0}
