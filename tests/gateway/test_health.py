"""``GET /health``, ``/status`` and ``/ready``, and the health component itself."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import pytest
from litestar.testing import TestClient

from app.contracts.rebalancing import ApplyRequest, RebalanceRequest
from app.contracts.worldservice_client import WorldServiceCapabilities, WorldServiceReply
from app.gateway.health import GatewayHealth
from app.main import create_app
from app.settings import Settings
from app.testing import free_port
from app.worldservice.face import InProcessWorldService
from app.worldservice.plans import PlanningService
from app.worldservice.versions import capabilities_of


def test_default_health_bits_top_level_and_nested(client: TestClient[Any]) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and "reason" not in body
    assert body["capabilities"] == {"rebalance_schema_version": 1, "alpha_metrics_capable": False}
    assert (body["rebalance_schema_version"], body["alpha_metrics_capable"]) == (1, False)
    assert body["worldservice_max_schema_version"] == 1
    assert (body["worldservice"], body["store"], body["controlbus"]) == ("ok", "ok", "ok")


def test_v2_health_bits(v2_client: TestClient[Any]) -> None:
    body = v2_client.get("/health").json()
    assert body["status"] == "ok"
    assert body["capabilities"] == {"rebalance_schema_version": 2, "alpha_metrics_capable": True}
    assert (body["rebalance_schema_version"], body["alpha_metrics_capable"]) == (2, True)
    assert body["worldservice_max_schema_version"] == 2


V3_WS = {"worldservice": {"server": {"compat_rebalance_v2": True, "compat_rebalance_v3": True}}}


def test_v3_health_bits_and_status(make_client: Callable[..., TestClient[Any]]) -> None:
    c = make_client({**V3_WS, "gateway": {"rebalance_schema_version": 3,
                                          "alpha_metrics_capable": True}})
    body = c.get("/health").json()
    assert body["status"] == "ok"
    assert body["capabilities"] == {"rebalance_schema_version": 3, "alpha_metrics_capable": True}
    assert body["worldservice_max_schema_version"] == 3
    status = c.get("/status").json()
    assert status["worldservice_compat_rebalance_v3"] is True
    caps = c.get("/worldservice/capabilities").json()
    assert caps == {"max_schema_version": 3, "compat_rebalance_v2": True,
                    "alpha_metrics_required": False, "compat_rebalance_v3": True}


def test_a_v3_gateway_before_a_v2_worldservice_is_degraded(
    make_client: Callable[..., TestClient[Any]],
) -> None:
    c = make_client({"worldservice": {"server": {"compat_rebalance_v2": True}},
                     "gateway": {"rebalance_schema_version": 3, "alpha_metrics_capable": True}})
    body = c.get("/health").json()
    assert body["status"] == "degraded"
    assert "rebalance_schema_version is 3 but WorldService serves at most schema version 2" in (
        body["reason"])
    assert "compat_rebalance_v3" not in c.get("/worldservice/capabilities").json()


def test_compute_context_contract_is_advertised(
    make_client: Callable[..., TestClient[Any]],
) -> None:
    body = make_client({"gateway": {"compute_context_contract": "ctx-v1"}}).get("/health").json()
    assert body["capabilities"]["compute_context_contract"] == "ctx-v1"


def test_configured_version_above_worldservice_is_degraded(
    make_client: Callable[..., TestClient[Any]],
) -> None:
    c = make_client({"gateway": {"rebalance_schema_version": 2, "alpha_metrics_capable": True}})
    response = c.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["worldservice_max_schema_version"] == 1
    assert "rebalance_schema_version is 2" in body["reason"]
    assert body["rebalance_schema_version"] == 2  # the bits still say what is configured


def test_unreachable_worldservice_is_degraded_not_an_error(
    make_client: Callable[..., TestClient[Any]],
) -> None:
    url = f"http://127.0.0.1:{free_port()}/worldservice"
    c = make_client(
        {
            "server": {"roles": ["gateway"]},
            "gateway": {"worldservice_url": url, "worldservice_retries": 0},
        }
    )
    response = c.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["worldservice"]) == ("degraded", "down")
    assert "worldservice is down" in body["reason"]
    assert "worldservice_max_schema_version" not in body
    status = c.get("/status").json()
    assert status["worldservice_mode"] == "http" and status["worldservice_url"] == url


def test_status_shows_configuration(v2_client: TestClient[Any]) -> None:
    body = v2_client.get("/status").json()
    assert body["health"]["rebalance_schema_version"] == 2
    assert body["worldservice_mode"] == "in_process"
    assert body["enforce_live_guard"] is True
    assert body["worldservice_compat_rebalance_v2"] is True
    assert body["roles"] == ["worldservice", "gateway"]


def test_ready_is_503_before_start_and_200_after(make_settings: Callable[..., Settings]) -> None:
    app = create_app(make_settings())
    # Outside ``with`` the test client runs no lifespan: nothing has started.
    response = TestClient(app).get("/ready")
    assert response.status_code == 503
    assert response.json()["code"] == "E_NOT_READY"
    with TestClient(create_app(make_settings())) as started:
        assert started.get("/ready").status_code == 200


class _Counting:
    """The real in-process adapter, counting capability probes."""

    def __init__(self, settings: Settings) -> None:
        caps = capabilities_of(settings.worldservice.server)
        self.inner = InProcessWorldService(caps, PlanningService(settings))
        self.calls = 0

    async def capabilities(self) -> WorldServiceCapabilities:
        self.calls += 1
        return await self.inner.capabilities()

    async def ping(self) -> bool:
        return await self.inner.ping()

    async def plan(self, request: RebalanceRequest) -> WorldServiceReply:
        return await self.inner.plan(request)

    async def apply(self, request: ApplyRequest) -> WorldServiceReply:
        return await self.inner.apply(request)


@pytest.mark.anyio
async def test_probe_rounds_are_cached_and_reports_are_fresh(
    make_settings: Callable[..., Settings],
) -> None:
    store_calls: list[int] = []

    async def store_probe() -> bool:
        store_calls.append(1)
        return True

    ws = _Counting(make_settings({"worldservice": {"server": {"compat_rebalance_v2": True}}}))
    health = GatewayHealth(
        make_settings({"gateway": {"health_cache_seconds": 3600.0}}),
        ws,
        {"store": store_probe},
    )
    first = await health.health()
    second = await health.health()
    assert first is not second  # a new report every time; nothing shared is handed out
    assert (len(store_calls), ws.calls) == (1, 1)
    assert first.controlbus == "absent" and first.status == "ok"

    uncached = GatewayHealth(make_settings({"gateway": {"health_cache_seconds": 0.0}}), ws, {})
    await uncached.health()
    await uncached.health()
    assert ws.calls == 3


@pytest.mark.anyio
async def test_a_hanging_probe_is_bounded_and_reported_down(
    make_settings: Callable[..., Settings],
) -> None:
    async def hangs() -> bool:
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    async def fails() -> bool:
        return False

    health = GatewayHealth(
        make_settings({"gateway": {"probe_timeout": 0.05}}),
        _Counting(make_settings()),
        {"store": hangs, "controlbus": fails},
    )
    report = await health.health()
    assert (report.store, report.controlbus, report.status) == ("down", "down", "degraded")
    assert report.reason is not None and "store is down" in report.reason
