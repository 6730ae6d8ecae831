"""Authentication basics: the bearer header, route scopes, legacy tokens, warnings, refusals
over HTTP and WebSocket, public routes, and the Gateway's key towards WorldService."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import httpx
import msgspec
import pytest
import structlog
from litestar import get, post, websocket
from litestar.exceptions import WebSocketDisconnect
from litestar.testing import TestClient

from app.errors import AppError
from app.gateway.http_client import HttpWorldServiceClient
from app.settings import Settings
from app.web.auth import (
    WS_FORBIDDEN_CLOSE_CODE,
    WS_UNAUTHORIZED_CLOSE_CODE,
    bearer_secret,
    is_loopback,
    required_scope,
    warn_if_open,
    warn_legacy_tokens,
)

SECRET = "s3cr3t-token-value"
Client = TestClient[Any]


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def key_entry(key_id: str, secret: str, *scopes: str) -> dict[str, Any]:
    return {"id": key_id, "name": f"{key_id} key", "scopes": list(scopes),
            "secret_sha256": digest(secret)}


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        (f"Bearer {SECRET}", SECRET),
        (f"bearer {SECRET}", SECRET),
        (f"  Bearer   {SECRET}  ", SECRET),
        (f"Basic {SECRET}", None),
        (SECRET, None),
        ("Bearer ", None),
        ("Bearer", None),
        ("Bearer ünïcode", "ünïcode"),
    ],
)
def test_bearer_secret(header: str | None, expected: str | None) -> None:
    assert bearer_secret(header) == expected


def test_required_scope_defaults_read_for_get_and_admin_for_undeclared_writes() -> None:
    @get("/r")
    async def read() -> None: ...

    @post("/w")
    async def write() -> None: ...

    @post("/p", opt={"scope": "plan"})
    async def planned() -> None: ...

    @get("/h", opt={"public": True})
    async def public() -> None: ...

    @websocket("/ws")
    async def ws(socket: Any) -> None: ...

    assert required_scope(read, "GET") == "read"
    assert required_scope(write, "POST") == "admin"  # forgot to declare: closed, not open
    assert required_scope(planned, "POST") == "plan"
    assert required_scope(public, "GET") is None
    assert required_scope(ws, None) == "read"


def _assert_unauthorized(response: Any) -> None:
    assert response.status_code == 401
    body = response.json()
    assert body["status"] == 401 and body["code"] == "E_UNAUTHORIZED"
    assert isinstance(body["detail"], str) and body["detail"]
    assert response.headers["www-authenticate"].lower().startswith("bearer")


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {SECRET}"}],
)
def test_calls_without_a_valid_key_are_401(
    make_client: Callable[..., Client], headers: dict[str, str]
) -> None:
    client = make_client({"security": {"api_tokens": [SECRET]}})
    _assert_unauthorized(client.post("/rebalancing/apply", json={}, headers=headers))
    _assert_unauthorized(client.get("/risk/state", headers=headers))


def test_legacy_tokens_hold_every_scope_and_warn(
    make_settings: Callable[..., Settings], make_client: Callable[..., Client]
) -> None:
    settings = make_settings({"security": {"api_tokens": [SECRET, "other"]}})
    with structlog.testing.capture_logs() as logs:
        assert warn_legacy_tokens(settings) is True
    assert any(e["event"] == "legacy_api_tokens_in_use" for e in logs)
    assert SECRET not in repr(logs)
    assert warn_legacy_tokens(make_settings()) is False
    client = make_client({"security": {"api_tokens": [SECRET, "other"]}})
    for token in (SECRET, "other"):
        auth = {"Authorization": f"Bearer {token}"}
        assert client.get("/keys", headers=auth).status_code == 200  # even admin
        put = client.put("/risk/state", json={"state": "ACTIVE", "reason": "x"}, headers=auth)
        assert put.status_code == 200


def test_missing_scope_is_403_naming_it(make_client: Callable[..., Client]) -> None:
    client = make_client({"security": {"keys": [key_entry("reader", SECRET, "read")]}})
    answer = client.put("/risk/state", json={"state": "HALTED", "reason": "x"},
                        headers={"Authorization": f"Bearer {SECRET}"})
    assert answer.status_code == 403
    body = answer.json()
    assert body["code"] == "E_FORBIDDEN_SCOPE" and body["missing_scope"] == "risk"
    assert "`risk`" in body["detail"] and "reader" in body["detail"]


def test_open_deployment_without_any_key(client: Client) -> None:
    assert client.get("/risk/state").status_code == 200
    put = client.put("/risk/state", json={"state": "ACTIVE", "reason": "dev"})
    assert put.status_code == 200 and put.json()["actor"] == "anonymous"


def test_public_routes_need_no_key(make_client: Callable[..., Client]) -> None:
    client = make_client({"security": {"keys": [key_entry("ops", SECRET, "admin")]}})
    for path in ("/health", "/ready", "/metrics", "/schema/openapi.json"):
        assert client.get(path).status_code == 200, path
    _assert_unauthorized(client.get("/status"))


def test_rejected_secrets_are_never_logged(make_client: Callable[..., Client]) -> None:
    client = make_client({"security": {"api_tokens": [SECRET]}})
    with structlog.testing.capture_logs() as logs:
        client.post("/rebalancing/apply", json={},
                    headers={"Authorization": "Bearer almost-" + SECRET})
        client.post("/rebalancing/apply", json={}, headers={"Authorization": f"Bearer {SECRET}"})
    assert any(entry["event"] == "auth_rejected" for entry in logs)
    assert SECRET not in repr(logs)


def test_websocket_refusals_before_accept(make_client: Callable[..., Client]) -> None:
    keys = [key_entry("reader", SECRET, "read"), key_entry("planner", "p-secret", "plan")]
    client = make_client({"security": {"keys": keys}})
    for headers, code in (
        ({}, WS_UNAUTHORIZED_CLOSE_CODE),
        ({"Authorization": "Bearer wrong"}, WS_UNAUTHORIZED_CLOSE_CODE),
        ({"Authorization": "Bearer p-secret"}, WS_FORBIDDEN_CLOSE_CODE),  # no `read`
    ):
        with pytest.raises(WebSocketDisconnect) as info:
            with client.websocket_connect("/events", headers=headers) as socket:
                socket.receive_text()
        assert info.value.code == code
    with client.websocket_connect("/events", headers={"Authorization": f"Bearer {SECRET}"}) as ws:
        assert '"subscribed"' in ws.receive_text()


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.5", False),
        ("example.com", False),
    ],
)
def test_is_loopback(host: str, expected: bool) -> None:
    assert is_loopback(host) is expected


@pytest.mark.parametrize(
    ("host", "enforcing", "warned"),
    [("0.0.0.0", False, True), ("0.0.0.0", True, False), ("127.0.0.1", False, False)],
)
def test_open_public_server_warns(
    make_settings: Callable[..., Settings], host: str, enforcing: bool, warned: bool
) -> None:
    settings = make_settings({"server": {"host": host}})
    with structlog.testing.capture_logs() as logs:
        assert warn_if_open(settings, enforcing) is warned
    assert any(e["event"] == "auth_disabled_on_public_address" for e in logs) is warned


def _plan_request() -> dict[str, Any]:
    return {
        "total_equity": 1000.0,
        "world_alloc_before": {"w1": 0.5},
        "world_alloc_after": {"w1": 0.25},
        "positions": [
            {"world_id": "w1", "strategy_id": "s", "symbol": "BTC", "qty": 1.0, "mark": 100.0}
        ],
    }


@pytest.mark.anyio
async def test_gateway_http_client_carries_its_key_to_worldservice(
    make_client: Callable[..., Client],
) -> None:
    """A split deployment: the Gateway's WorldService client sends its key's secret."""
    keys = [key_entry("gateway", SECRET, "read", "plan", "apply"),
            key_entry("planner", "planner-secret", "read", "plan")]
    worldservice = make_client(
        {"server": {"roles": ["worldservice"]}, "security": {"keys": keys}}
    )

    def forward(request: httpx.Request) -> httpx.Response:
        answer = worldservice.request(
            request.method, request.url.path, content=request.content, headers=request.headers
        )
        return httpx.Response(answer.status_code, content=answer.content)

    async def apply_with(token: str | None) -> Any:
        client = HttpWorldServiceClient(
            "http://worldservice.test/worldservice",
            timeout=5.0,
            retries=0,
            transport=httpx.MockTransport(forward),
            token=token,
        )
        try:
            return await client.apply({**_plan_request(), "run_id": f"r-{token}"})
        finally:
            await client.close()

    with pytest.raises(AppError) as info:
        await apply_with(None)
    assert info.value.status == 401 and info.value.code == "E_UNAUTHORIZED"
    with pytest.raises(AppError) as info:
        await apply_with("planner-secret")
    assert info.value.status == 403 and info.value.code == "E_FORBIDDEN_SCOPE"
    reply = await apply_with(SECRET)
    assert msgspec.json.decode(reply.content)["run_id"] == f"r-{SECRET}"
