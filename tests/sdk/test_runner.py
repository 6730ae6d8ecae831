"""The Runner consumes the capability bits: v2 only when advertised, clean v1 fallback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import pytest
from litestar import Litestar, get, post
from litestar.params import JSONBody

from app.contracts.rebalancing import PlanV1, PlanV2
from app.metrics.alpha import compute_metrics
from app.sdk import AsyncGatewayClient, AsyncRunner, GatewayClient, Runner
from app.sdk.runner import effective_capabilities
from app.sdk.samples import sample_request, sample_returns
from app.sdk.wire import parse_health
from tests.sdk.conftest import V2_OVERRIDES, serve

V2_HEALTH = {"status": "ok", "rebalance_schema_version": 2, "alpha_metrics_capable": True}
_PLAN = {"per_world": {}, "global_deltas": []}


class Switchboard:
    """State of a small real Gateway stand-in whose /health the test controls."""

    def __init__(self) -> None:
        self.health: dict[str, Any] = dict(V2_HEALTH)
        self.requests: list[dict[str, Any]] = []
        self.health_reads = 0


def _stand_in(board: Switchboard) -> Litestar:
    @get("/health", sync_to_thread=False)
    def health() -> dict[str, Any]:
        board.health_reads += 1
        return board.health

    @post("/rebalancing/plan", status_code=200, sync_to_thread=False)
    def plan(data: JSONBody[dict[str, Any]]) -> dict[str, Any]:
        board.requests.append(data)
        if data.get("schema_version") == 2:
            return {**_PLAN, "schema_version": 2, "alpha_metrics": {"per_world": {}},
                    "rebalance_intent": data.get("rebalance_intent") or {"meta": {}}}
        return {**_PLAN, "schema_version": 1}

    return Litestar([health, plan])


@pytest.fixture
def board() -> Iterator[tuple[Switchboard, str]]:
    state = Switchboard()
    with serve(_stand_in(state)) as url:
        yield state, url


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_runner_switches_between_v2_and_v1(board: tuple[Switchboard, str]) -> None:
    state, url = board
    clock = FakeClock()
    with GatewayClient(url) as client:
        runner = Runner(client, refresh_interval=30.0, clock=clock)
        assert runner.start().schema_version == 2
        plan = runner.plan(sample_request(), returns_by_strategy=sample_returns(),
                           intent={"k": "v"})
        assert isinstance(plan, PlanV2) and plan.rebalance_intent.meta == {"k": "v"}
        sent = state.requests[-1]
        assert sent["schema_version"] == 2
        assert sent["realized_returns_by_strategy"] == sample_returns()

        state.health = {"status": "ok", "rebalance_schema_version": 2,
                        "alpha_metrics_capable": False}
        clock.now = 10.0  # within the interval: the cached bits still say v2
        assert runner.capabilities.schema_version == 2
        clock.now = 31.0
        plan = runner.plan(sample_request(), returns_by_strategy=sample_returns(),
                           intent={"k": "v"})
        assert isinstance(plan, PlanV1)
        sent = state.requests[-1]
        for key in ("schema_version", "rebalance_intent", "realized_returns_by_strategy",
                    "realized_returns_by_world"):
            assert key not in sent

        state.health = dict(V2_HEALTH)
        clock.now = 62.0
        assert isinstance(runner.plan(sample_request()), PlanV2)
        assert state.requests[-1]["schema_version"] == 2
    assert state.health_reads == 3


def test_runner_refreshes_on_the_interval_only(board: tuple[Switchboard, str]) -> None:
    state, url = board
    clock = FakeClock()
    with GatewayClient(url) as client:
        runner = Runner(client, refresh_interval=5.0, clock=clock)
        runner.start()
        for t in (1.0, 2.0, 4.9):
            clock.now = t
            runner.plan(sample_request())
        assert state.health_reads == 1
        clock.now = 5.0
        runner.plan(sample_request())
        assert state.health_reads == 2


def test_runner_records_returns(board: tuple[Switchboard, str]) -> None:
    state, url = board
    with GatewayClient(url) as client:
        runner = Runner(client)
        runner.record_returns("core", "trend", [0.01, -0.02])
        runner.record_returns("core", "trend", [0.03])
        runner.plan(sample_request())
    assert state.requests[-1]["realized_returns_by_strategy"] == {
        "core": {"trend": [0.01, -0.02, 0.03]}}


def test_unreachable_gateway_means_v1(dead_url: str) -> None:
    with GatewayClient(dead_url, timeout=1) as client:
        caps = Runner(client).start()
    assert (caps.schema_version, caps.reachable, caps.status) == (1, False, "unreachable")


@pytest.mark.parametrize(
    ("health", "version"),
    [(V2_HEALTH, 2), ({"rebalance_schema_version": 1, "alpha_metrics_capable": True}, 1),
     ({"rebalance_schema_version": 3, "alpha_metrics_capable": True}, 3),
     ({"rebalance_schema_version": 4, "alpha_metrics_capable": True}, 3),
     ({"rebalance_schema_version": 3, "alpha_metrics_capable": False}, 1),
     ({"capabilities": {"rebalance_schema_version": 2, "alpha_metrics_capable": True}}, 2),
     ({}, 1)],
)
def test_effective_capabilities(health: dict[str, Any], version: int) -> None:
    assert effective_capabilities(parse_health(health)).schema_version == version


def test_runner_against_real_v1_and_v2_servers(live_server: Callable[..., str]) -> None:
    urls = {1: live_server(), 2: live_server(V2_OVERRIDES)}
    for version, url in urls.items():
        with GatewayClient(url) as client:
            runner = Runner(client)
            assert runner.start().schema_version == version
            plan = runner.plan(sample_request(), returns_by_strategy=sample_returns())
        assert plan.__struct_config__.tag == version
        if isinstance(plan, PlanV2):
            got = msgspec.to_builtins(plan.alpha_metrics.per_strategy["meanrev"]["alpha"])
            assert got == pytest.approx(compute_metrics(sample_returns()["alpha"]["meanrev"]))


@pytest.mark.anyio
async def test_async_runner_switches_too(board: tuple[Switchboard, str]) -> None:
    state, url = board
    clock = FakeClock()
    async with AsyncGatewayClient(url) as client:
        runner = AsyncRunner(client, refresh_interval=10.0, clock=clock)
        assert (await runner.start()).schema_version == 2
        runner.record_returns("core", "trend", [0.02, -0.01])
        assert isinstance(await runner.plan(sample_request(), intent={"a": 1}), PlanV2)
        assert state.requests[-1]["realized_returns_by_strategy"] == {
            "core": {"trend": [0.02, -0.01]}}
        state.health = {"status": "ok", "rebalance_schema_version": 1,
                        "alpha_metrics_capable": True}
        clock.now = 10.0
        assert isinstance(await runner.plan(sample_request()), PlanV1)
        assert "schema_version" not in state.requests[-1]
        assert "realized_returns_by_strategy" not in state.requests[-1]
        assert (await runner.capabilities()).advertised_alpha_metrics is True
