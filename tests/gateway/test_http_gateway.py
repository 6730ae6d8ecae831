"""A Gateway reaching WorldService over HTTP: transport failures, pass-through, dry run."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient

from app.errors import AppError
from app.gateway.http_client import HttpWorldServiceClient
from app.main import create_app
from app.settings import load_settings
from app.testing import free_port, serve_in_thread
from tests.gateway.factories import request_body
from tests.gateway.servers import LegacyWorldService

V2_GATEWAY = {"rebalance_schema_version": 2, "alpha_metrics_capable": True}


@pytest.fixture(scope="module")
def urls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Real servers: a v2 WorldService (Worldgate, worldservice role only) and legacy ones."""
    settings = load_settings(
        environ={},
        overrides={
            "server": {"roles": ["worldservice"]},
            "store": {"sqlite_path": str(tmp_path_factory.mktemp("ws") / "ws.sqlite3")},
            "worldservice": {"server": {"compat_rebalance_v2": True}},
        },
    )
    slow = LegacyWorldService(mode="slow", delay=1.0)
    with ExitStack() as stack:
        yield {
            "v2": stack.enter_context(serve_in_thread(create_app(settings))) + "/worldservice",
            "slow": stack.enter_context(serve_in_thread(slow.app())) + "/worldservice",
            "crash": stack.enter_context(serve_in_thread(LegacyWorldService(mode="crash").app()))
            + "/worldservice",
        }


def gateway(make_client: Callable[..., TestClient[Any]], url: str, **gw: Any) -> TestClient[Any]:
    """A gateway-only app that reaches WorldService at ``url``."""
    return make_client(
        {"server": {"roles": ["gateway"]}, "gateway": {"worldservice_url": url, **gw}}
    )


async def plan_error(url: str, *, retries: int) -> AppError:
    """The error a ``plan`` call through ``HttpWorldServiceClient`` at ``url`` raises."""
    client = HttpWorldServiceClient(url, timeout=5.0, retries=retries)
    try:
        with pytest.raises(AppError) as caught:
            await client.plan(request_body())
    finally:
        await client.close()
    return caught.value


@pytest.mark.anyio
async def test_unreachable_worldservice_is_503() -> None:
    error = await plan_error(f"http://127.0.0.1:{free_port()}/worldservice", retries=1)
    assert (error.status, error.code) == (503, "E_WORLDSERVICE_UNAVAILABLE")


@pytest.mark.anyio
async def test_slow_worldservice_is_504_and_apply_is_not_resent(urls: dict[str, str]) -> None:
    client = HttpWorldServiceClient(urls["slow"], timeout=0.2, retries=2)
    try:
        for call in (client.plan, client.apply):
            with pytest.raises(AppError) as caught:
                await call(request_body())
            assert (caught.value.status, caught.value.code) == (504, "E_WORLDSERVICE_UNAVAILABLE")
    finally:
        await client.close()


@pytest.mark.anyio
async def test_worldservice_crash_is_503_not_500(urls: dict[str, str]) -> None:
    error = await plan_error(urls["crash"], retries=0)
    assert (error.status, error.code) == (503, "E_WORLDSERVICE_UNAVAILABLE")


def test_worldservice_4xx_arrive_unchanged_at_the_gateway(
    make_client: Callable[..., TestClient[Any]], urls: dict[str, str]
) -> None:
    c = gateway(make_client, urls["v2"], **V2_GATEWAY)
    bad = request_body(mode="sideways")
    direct = httpx.post(f"{urls['v2']}/rebalancing/plan", json={**bad, "schema_version": 2})
    for path in ("/rebalancing/plan", "/rebalancing/execute"):
        via = c.post(path, json=bad)
        assert (via.status_code, via.json()) == (direct.status_code, direct.json())
        assert via.status_code == 422
    malformed = request_body()
    malformed["positions"][0]["qty"] = "lots"
    direct = httpx.post(f"{urls['v2']}/rebalancing/plan", json=malformed)
    via = c.post("/rebalancing/plan", json=malformed)
    assert (via.status_code, via.json()) == (direct.status_code, direct.json())


def test_gateway_with_unreachable_worldservice_answers_503(
    make_client: Callable[..., TestClient[Any]],
) -> None:
    url = f"http://127.0.0.1:{free_port()}/worldservice"
    c = gateway(make_client, url, worldservice_retries=0)
    for path in ("/rebalancing/plan", "/rebalancing/execute"):
        response = c.post(path, json=request_body())
        assert response.status_code == 503
        assert response.json()["code"] == "E_WORLDSERVICE_UNAVAILABLE"


def test_apply_through_the_gateway(
    make_client: Callable[..., TestClient[Any]], urls: dict[str, str]
) -> None:
    c = gateway(make_client, urls["v2"], **V2_GATEWAY)
    response = c.post("/rebalancing/apply", json=request_body(run_id="gw-apply-1"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["run_id"], body["schema_version"]) == ("gw-apply-1", 2)
    again = c.post("/rebalancing/apply", json=request_body(run_id="gw-apply-1"))
    assert again.json() == body  # WorldService's idempotent replay, byte for byte


def dry_run(c: TestClient[Any]) -> None:
    """The seed's dry run: Gateway health → SDK-style plan with schema_version=2."""
    health = c.get("/health").json()
    assert health["rebalance_schema_version"] == 2
    assert health["alpha_metrics_capable"] is True
    assert health["worldservice_max_schema_version"] == 2
    assert health["status"] == "ok"
    plan = c.post("/rebalancing/plan", json=request_body(schema_version=2)).json()
    assert plan["schema_version"] == 2
    metrics = plan["alpha_metrics"]["per_world"]["a"]
    assert metrics["alpha_performance.sharpe"] == pytest.approx(0.811107, abs=1e-6)
    assert metrics["alpha_performance.max_drawdown"] == pytest.approx(-0.05)
    assert metrics["alpha_performance.profit_factor"] == pytest.approx(6.0)
    assert plan["rebalance_intent"] == {"meta": {}}
    executed = c.post("/rebalancing/execute", json=request_body(schema_version=2)).json()
    assert executed["alpha_metrics_capable"] is True


def test_dry_run_over_http(
    make_client: Callable[..., TestClient[Any]], urls: dict[str, str]
) -> None:
    dry_run(gateway(make_client, urls["v2"], **V2_GATEWAY))


def test_dry_run_in_process(v2_client: TestClient[Any]) -> None:
    dry_run(v2_client)
