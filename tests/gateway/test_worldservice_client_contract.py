"""One contract suite for both WorldService client adapters (in-process and HTTP).

The HTTP adapter talks to real uvicorn servers on loopback ports: the Worldgate app with
only the WorldService role (v1, v2, v2-required) and a legacy v1-only WorldService.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import msgspec
import pytest

from app.contracts.allocations import AllocationsReply
from app.contracts.rebalancing import (
    ApplyRequest,
    PlanResponse,
    PlanV1,
    PlanV2,
    PlanV3,
    RebalanceRequest,
)
from app.contracts.worldservice_client import (
    WorldServiceCapabilities,
    WorldServiceClient,
    WorldServiceReply,
)
from app.errors import AppError
from app.gateway.http_client import HttpWorldServiceClient
from app.gateway.negotiation import NegotiatingClient
from app.main import create_app
from app.settings import Settings, load_settings
from app.testing import serve_in_thread
from app.web.decoding import decode_body
from app.worldservice.face import InProcessWorldService
from app.worldservice.plans import PlanningService
from app.worldservice.versions import capabilities_of
from tests.gateway.factories import request_body
from tests.gateway.servers import LegacyWorldService

pytestmark = pytest.mark.anyio

WS_CONFIGS: dict[str, dict[str, bool]] = {
    "v1": {},
    "v2": {"compat_rebalance_v2": True},
    "required": {"compat_rebalance_v2": True, "alpha_metrics_required": True},
    "v3": {"compat_rebalance_v2": True, "compat_rebalance_v3": True},
}
LEGACY: dict[str, int] = {"legacy": 1, "legacy2": 2}
"""Foreign WorldServices by the highest version they accept (above it: 422)."""


def ws_settings(path: Path, name: str) -> Settings:
    return load_settings(
        environ={},
        overrides={
            "server": {"roles": ["worldservice"]},
            "store": {"sqlite_path": str(path)},
            "worldservice": {"server": WS_CONFIGS.get(
                name, WS_CONFIGS["v2"] if LEGACY.get(name) == 2 else {})},
        },
    )


class Servers(msgspec.Struct, kw_only=True):
    urls: dict[str, str]
    legacy: LegacyWorldService
    foreign: dict[str, LegacyWorldService]
    paths: dict[str, Path]


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    foreign = {name: LegacyWorldService(max_version=top) for name, top in LEGACY.items()}
    with ExitStack() as stack:
        urls: dict[str, str] = {}
        paths: dict[str, Path] = {}
        for name in WS_CONFIGS:
            paths[name] = tmp_path_factory.mktemp(name) / "ws.sqlite3"
            base = stack.enter_context(serve_in_thread(create_app(ws_settings(paths[name], name))))
            urls[name] = f"{base}/worldservice"
        for name, service in foreign.items():
            urls[name] = f"{stack.enter_context(serve_in_thread(service.app()))}/worldservice"
        yield Servers(urls=urls, legacy=foreign["legacy"], foreign=foreign, paths=paths)


class LegacyPlanning(PlanningService):
    """In-process twin of ``LegacyWorldService``: refuses a schema_version above its top and
    (like QMTL) knows nothing of a policy."""

    top = 1

    def plan(self, request: RebalanceRequest) -> PlanResponse:
        if request.schema_version is not None and request.schema_version > self.top:
            raise AppError("unsupported schema_version", code="E_LEGACY_VERSION", status=422)
        return super().plan(msgspec.structs.replace(request, policy=None))


class Legacy2Planning(LegacyPlanning):
    top = 2


def typed(body: dict[str, Any]) -> RebalanceRequest:
    """Decode a body as the Gateway's edge does before handing it to the client port."""
    return decode_body(msgspec.json.encode(body), RebalanceRequest)


class Recording:
    """Wraps an adapter and records every request handed to it (what goes on the wire)."""

    def __init__(self, inner: WorldServiceClient) -> None:
        self.inner = inner
        self.bodies: list[dict[str, Any]] = []

    async def plan(self, request: RebalanceRequest) -> WorldServiceReply:
        self.bodies.append(msgspec.to_builtins(request))
        return await self.inner.plan(request)

    async def apply(self, request: ApplyRequest) -> WorldServiceReply:
        self.bodies.append(msgspec.to_builtins(request))
        return await self.inner.apply(request)

    async def allocations(self, world_id: str | None = None, *, limit: int | None = None,
                          cursor: str | None = None) -> AllocationsReply:
        return await self.inner.allocations(world_id, limit=limit, cursor=cursor)

    async def capabilities(self) -> WorldServiceCapabilities:
        return await self.inner.capabilities()

    async def ping(self) -> bool:
        return await self.inner.ping()


Build = Callable[[str, int], Awaitable[tuple[NegotiatingClient, Recording]]]


@pytest.fixture(params=["in_process", "http"])
async def build(request: pytest.FixtureRequest, servers: Servers) -> AsyncIterator[Build]:
    """``build(ws_name, configured_version)`` → a negotiating client over the adapter."""
    opened: list[HttpWorldServiceClient] = []

    async def make(name: str, configured: int) -> tuple[NegotiatingClient, Recording]:
        adapter: WorldServiceClient
        if request.param == "http":
            http = HttpWorldServiceClient(servers.urls[name], timeout=10.0, retries=0)
            opened.append(http)
            adapter = http
        else:
            settings = ws_settings(servers.paths.get(name, Path("unused")), name)
            kind = {"legacy": LegacyPlanning, "legacy2": Legacy2Planning}.get(name, PlanningService)
            planning = kind(settings)
            caps = capabilities_of(settings.worldservice.server)
            adapter = InProcessWorldService(caps, planning)
        recording = Recording(adapter)
        return NegotiatingClient(recording, configured), recording

    yield make
    for http in opened:
        await http.close()


async def test_v2_gateway_and_v2_worldservice_negotiate_v2_with_metrics(build: Build) -> None:
    client, _ = await build("v2", 2)
    result = await client.plan(typed(request_body()))
    assert (result.schema_version, result.requested, result.fell_back) == (2, 2, False)
    assert isinstance(result.plan, PlanV2)
    sharpe = result.plan.alpha_metrics.per_world["a"]["alpha_performance.sharpe"]
    assert sharpe == pytest.approx(0.811107, abs=1e-6)


async def test_v1_worldservice_answers_v1_without_v2_fields(build: Build) -> None:
    client, recording = await build("v1", 2)
    result = await client.plan(typed(request_body()))
    assert recording.bodies[0]["schema_version"] == 2  # the configured version was sent
    assert result.schema_version == 1 and isinstance(result.plan, PlanV1)
    assert b"alpha_metrics" not in result.body() and b"rebalance_intent" not in result.body()


async def test_an_explicit_lower_version_is_honoured(build: Build) -> None:
    client, recording = await build("v2", 2)
    result = await client.plan(typed(request_body(schema_version=1)))
    assert recording.bodies[0]["schema_version"] == 1
    assert result.schema_version == 1


async def test_configured_v1_sends_v1(build: Build) -> None:
    client, recording = await build("v2", 1)
    result = await client.plan(typed(request_body(schema_version=2)))
    assert recording.bodies[0]["schema_version"] == 1
    assert result.schema_version == 1


async def test_refused_v2_is_retried_once_as_v1_without_the_key(
    build: Build, servers: Servers
) -> None:
    servers.legacy.bodies.clear()
    client, recording = await build("legacy", 2)
    result = await client.plan(typed(request_body(schema_version=2)))
    assert result.fell_back and result.schema_version == 1 and result.requested == 2
    assert [b.get("schema_version") for b in recording.bodies] == [2, None]
    assert "schema_version" not in recording.bodies[1]
    if servers.legacy.bodies:  # the HTTP run: check what the real server received
        assert servers.legacy.bodies[0]["schema_version"] == 2
        assert "schema_version" not in servers.legacy.bodies[1]


async def test_validation_errors_pass_through_unchanged(build: Build) -> None:
    client, _ = await build("v2", 1)
    with pytest.raises(AppError) as caught:
        await client.plan(typed(request_body(mode="sideways")))
    assert (caught.value.status, caught.value.code) == (422, "E_VALIDATION")
    assert any(e["path"] == "$.mode" for e in caught.value.errors or [])


async def test_a_missing_field_is_a_422(build: Build) -> None:
    client, _ = await build("v2", 1)
    body = request_body()
    del body["total_equity"]
    with pytest.raises(AppError) as caught:
        await client.plan(typed(body))
    assert caught.value.status == 422


async def test_schema_version_required_400_passes_through(build: Build) -> None:
    client, recording = await build("required", 1)
    with pytest.raises(AppError) as caught:
        await client.plan(typed(request_body()))
    assert (caught.value.status, caught.value.code) == (400, "E_SCHEMA_VERSION_REQUIRED")
    assert len(recording.bodies) == 1  # no retry for a v1 request


async def test_capabilities(build: Build) -> None:
    for name, expected in (("v1", 1), ("v2", 2), ("required", 2), ("v3", 3)):
        client, _ = await build(name, 2)
        caps = await client.client.capabilities()
        assert caps.max_schema_version == expected
        assert caps.alpha_metrics_required is (name == "required")
        assert caps.compat_rebalance_v3 is (name == "v3")
        assert await client.client.ping()


POLICY = {"max_turnover": 0.01, "costs": {"default": {"fee_bps": 10.0}}}


async def test_v3_gateway_and_v3_worldservice_negotiate_v3(build: Build) -> None:
    client, recording = await build("v3", 3)
    result = await client.plan(typed(request_body(policy=POLICY)))
    assert (result.schema_version, result.requested, result.fell_back) == (3, 3, False)
    assert isinstance(result.plan, PlanV3)
    assert {s.code for s in result.plan.skipped} == {"TURNOVER_CAPPED"}
    assert result.plan.projection.total.turnover_weight == pytest.approx(0.01)
    assert [b["schema_version"] for b in recording.bodies] == [3]


async def test_a_v2_worldgate_answers_a_v3_gateway_with_v2(build: Build) -> None:
    client, recording = await build("v2", 3)
    result = await client.plan(typed(request_body()))
    assert (result.schema_version, result.fell_back) == (2, False)  # negotiated, not refused
    assert [b["schema_version"] for b in recording.bodies] == [3]
    assert b"skipped" not in result.body() and b"projection" not in result.body()


async def test_refused_v3_falls_back_to_v2_once(build: Build, servers: Servers) -> None:
    servers.foreign["legacy2"].bodies.clear()
    client, recording = await build("legacy2", 3)
    result = await client.plan(typed(request_body()))
    assert (result.schema_version, result.requested, result.fell_back) == (2, 3, True)
    assert isinstance(result.plan, PlanV2) and not isinstance(result.plan, PlanV3)
    assert [b.get("schema_version") for b in recording.bodies] == [3, 2]


async def test_refused_v3_and_v2_fall_back_3_2_1(build: Build, servers: Servers) -> None:
    servers.legacy.bodies.clear()
    client, recording = await build("legacy", 3)
    result = await client.plan(typed(request_body()))
    assert (result.schema_version, result.requested, result.fell_back) == (1, 3, True)
    assert [b.get("schema_version") for b in recording.bodies] == [3, 2, None]
    assert "schema_version" not in recording.bodies[2]
    if servers.legacy.bodies:  # the HTTP run: what the real server received
        assert [b.get("schema_version") for b in servers.legacy.bodies] == [3, 2, None]


async def test_a_policy_below_v3_is_refused_without_retry(build: Build) -> None:
    client, recording = await build("v2", 3)
    with pytest.raises(AppError) as caught:
        await client.plan(typed(request_body(policy=POLICY)))
    assert (caught.value.status, caught.value.code) == (422, "E_POLICY_REQUIRES_V3")
    assert caught.value.extra["negotiated_schema_version"] == 2
    assert len(recording.bodies) == 1


async def test_a_policy_is_refused_when_the_gateway_is_below_v3(build: Build) -> None:
    client, recording = await build("v3", 2)
    with pytest.raises(AppError) as caught:
        await client.plan(typed(request_body(policy=POLICY, schema_version=3)))
    assert (caught.value.status, caught.value.code) == (422, "E_POLICY_REQUIRES_V3")
    assert [b["schema_version"] for b in recording.bodies] == [2]


async def test_a_worldservice_ignoring_the_policy_never_answers_without_it(
    build: Build,
) -> None:
    client, recording = await build("legacy2", 3)
    with pytest.raises(AppError) as caught:
        await client.plan(typed(request_body(policy=POLICY)))
    assert (caught.value.status, caught.value.code) == (422, "E_POLICY_REQUIRES_V3")
    assert [b.get("schema_version") for b in recording.bodies] == [3, 2]


async def test_a_bad_field_with_a_policy_reports_the_bad_field(build: Build) -> None:
    client, _ = await build("v3", 3)
    with pytest.raises(AppError) as caught:
        await client.plan(typed(request_body(policy=POLICY, mode="sideways")))
    assert (caught.value.status, caught.value.code) == (422, "E_VALIDATION")
    assert any(e["path"] == "$.mode" for e in caught.value.errors or [])
