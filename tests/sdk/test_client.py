"""The Gateway clients against a live app (v1 and v2 configurations), over real HTTP."""

from __future__ import annotations

from collections.abc import Callable

import msgspec
import pytest

from app.contracts.events import REBALANCING_PLANNED
from app.contracts.orders import ExecuteResponse
from app.contracts.rebalancing import PlanV1, PlanV2, RebalanceIntent, RebalanceRequest
from app.metrics.alpha import compute_metrics
from app.sdk import (
    AsyncEventStream,
    AsyncGatewayClient,
    EventStream,
    GatewayClient,
    InvalidRequest,
    PermissionDenied,
    SchemaVersionRequired,
    Unauthorized,
    Unreachable,
)
from app.sdk.errors import StreamError
from app.sdk.samples import sample_request, sample_returns
from tests.sdk.conftest import V2_OVERRIDES


def _v2_request(prefix: str = "") -> RebalanceRequest:
    return msgspec.structs.replace(
        sample_request(prefix), schema_version=2,
        rebalance_intent=RebalanceIntent(meta={"why": "test"}),
        realized_returns_by_strategy=sample_returns(prefix),
    )


def test_health_v1_and_v2(v1_url: str, v2_url: str) -> None:
    with GatewayClient(v1_url) as c1, GatewayClient(v2_url) as c2:
        h1, h2 = c1.health(), c2.health()
    assert (h1.rebalance_schema_version, h1.alpha_metrics_capable) == (1, False)
    assert (h2.rebalance_schema_version, h2.alpha_metrics_capable) == (2, True)
    assert h2.status == "ok"


def test_plan_v1_server_answers_v1_even_when_v2_is_asked(v1_url: str) -> None:
    with GatewayClient(v1_url) as client:
        plan = client.plan(_v2_request())
    assert isinstance(plan, PlanV1)
    assert set(plan.per_world) == {"core", "alpha"}


def test_plan_v2_carries_the_sdk_metrics(v2_url: str) -> None:
    with GatewayClient(v2_url) as client:
        plan = client.plan(_v2_request())
    assert isinstance(plan, PlanV2)
    assert plan.rebalance_intent.meta == {"why": "test"}
    got = plan.alpha_metrics.per_strategy["trend"]["core"]
    want = compute_metrics(sample_returns()["core"]["trend"])
    assert got == pytest.approx(want)


def test_errors_are_typed_with_their_code(v2_url: str) -> None:
    bad = msgspec.structs.replace(sample_request(), mode="sideways")
    with GatewayClient(v2_url) as client, pytest.raises(InvalidRequest) as info:
        client.plan(bad)
    assert info.value.status == 422
    assert info.value.code.startswith("E_")
    assert "sideways" in str(info.value.detail) or info.value.errors


def test_schema_version_required(live_server: Callable[..., str]) -> None:
    url = live_server({"worldservice": {"server": {"compat_rebalance_v2": True,
                                                   "alpha_metrics_required": True}}})
    with GatewayClient(url) as client, pytest.raises(SchemaVersionRequired) as info:
        client.worldservice_plan_raw(sample_request())
    assert info.value.code == "E_SCHEMA_VERSION_REQUIRED"


def test_unreachable(dead_url: str) -> None:
    with GatewayClient(dead_url, timeout=2) as client, \
            pytest.raises(Unreachable) as info:
        client.health()
    assert info.value.url == dead_url


@pytest.mark.anyio
async def test_async_client(v2_url: str) -> None:
    async with AsyncGatewayClient(v2_url) as client:
        health = await client.health()
        plan = await client.plan(_v2_request())
        caps = await client.worldservice_capabilities()
        stored = await client.apply(_v2_request("async-"), run_id="async-1")
        again = await client.apply_raw(_v2_request("async-"), run_id="async-1")
    assert health.rebalance_schema_version == 2
    assert isinstance(plan, PlanV2) and isinstance(stored, PlanV2)
    assert again["run_id"] == "async-1" and set(again["per_world"]) == set(stored.per_world)
    assert caps["max_schema_version"] == 2


@pytest.mark.anyio
async def test_async_unreachable(dead_url: str) -> None:
    async with AsyncGatewayClient(dead_url, timeout=2) as client:
        with pytest.raises(Unreachable):
            await client.health()


def test_event_stream_reports_bad_subscriptions(v2_url: str) -> None:
    with pytest.raises(StreamError) as info, EventStream(v2_url, topics=["no_such_topic"]):
        pass
    assert info.value.code.startswith("E_")


def test_event_stream_subscribes(v2_url: str) -> None:
    with EventStream(v2_url, topics=[REBALANCING_PLANNED], world_id="w", schema_version=2) as s:
        assert s.frames.subscribed is not None
        assert s.frames.subscribed["topics"] == [REBALANCING_PLANNED]
        with pytest.raises(TimeoutError):
            s.next_event(timeout=0.05)


@pytest.mark.anyio
async def test_async_event_stream_subscribes(v2_url: str) -> None:
    async with AsyncEventStream(v2_url, topics=[REBALANCING_PLANNED]) as stream:
        assert stream.frames.subscribed is not None
        assert stream.last_seq is None


def test_execute_decodes_into_the_shared_type(v1_url: str) -> None:
    with GatewayClient(v1_url) as client:
        answer = client.execute(sample_request())
        with pytest.raises(PermissionDenied) as info:
            client.execute(sample_request(), submit=True)
    assert isinstance(answer, ExecuteResponse)
    assert answer.submitted is False and answer.rebalance_schema_version == 1
    core = {o.symbol: o for o in answer.orders_per_world["core"]}
    assert core["BTCUSDT"].side == "sell" and core["BTCUSDT"].reduce_only is True
    assert info.value.code == "E_PERMISSION_DENIED"


@pytest.mark.anyio
async def test_async_execute(v1_url: str) -> None:
    async with AsyncGatewayClient(v1_url) as client:
        answer = await client.execute(sample_request(), per_strategy=True)
    assert answer.scope == "per_strategy"
    assert all(o.strategy_id for orders in answer.orders_per_world.values() for o in orders)


def test_applied_plan_reaches_v2_and_v1_streams(v2_url: str) -> None:
    request = _v2_request("ev-")
    with (GatewayClient(v2_url) as client,
          EventStream(v2_url, topics=[REBALANCING_PLANNED], world_id="ev-core",
                      schema_version=2) as v2,
          EventStream(v2_url, topics=[REBALANCING_PLANNED], world_id="ev-core") as v1):
        client.apply(request, run_id="ev-run")
        got2 = v2.next_event(timeout=10)
        got1 = v1.next_event(timeout=10)
    assert got2.id == got1.id and got2.data["world_id"] == "ev-core"
    assert got2.data["rebalance_intent"] == {"meta": {"why": "test"}}
    assert set(got2.data["alpha_metrics"]["per_strategy"]) == {"trend", "carry"}
    assert "alpha_metrics" not in got1.data and "rebalance_intent" not in got1.data
    assert v2.last_seq == got2.seq is not None


def test_bearer_token_on_http_and_websocket(live_server: Callable[..., str]) -> None:
    url = live_server({**V2_OVERRIDES, "security": {"api_tokens": ["s3cret"]}})
    with GatewayClient(url) as anonymous, pytest.raises(Unauthorized) as info:
        anonymous.apply(sample_request("tok-"), run_id="tok-1")
    assert info.value.status == 401
    with pytest.raises(Unauthorized):
        EventStream(url, topics=[REBALANCING_PLANNED]).__enter__()
    with GatewayClient(url, token="s3cret") as client, \
            EventStream(url, token="s3cret", world_id="tok-core") as stream:
        client.apply(sample_request("tok-"), run_id="tok-1")
        assert stream.next_event(timeout=10).data["run_id"] == "tok-1"
