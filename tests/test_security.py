"""Bearer-token auth: constant-time check, the app-wide guard, the open-server warning."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import msgspec
import pytest
import structlog
from litestar import Litestar, WebSocket, get, post, websocket
from litestar.exceptions import WebSocketDisconnect
from litestar.handlers import HTTPRouteHandler
from litestar.testing import TestClient

from app.errors import AppError
from app.gateway.http_client import HttpWorldServiceClient
from app.settings import Settings
from app.web.auth import (
    MUTATING_OPT,
    WS_UNAUTHORIZED_CLOSE_CODE,
    is_loopback,
    token_guard,
    token_ok,
    warn_if_open,
)
from app.web.errors import exception_handlers

SECRET = "s3cr3t-token-value"


@pytest.mark.parametrize(
    ("header", "tokens", "expected"),
    [
        (None, [], True),
        ("anything", [], True),
        (None, [SECRET], False),
        ("", [SECRET], False),
        (f"Bearer {SECRET}", [SECRET], True),
        (f"bearer {SECRET}", [SECRET], True),
        (f"  Bearer   {SECRET}  ", [SECRET], True),
        (f"Bearer {SECRET}x", [SECRET], False),
        (f"Bearer {SECRET[:-1]}", [SECRET], False),
        (f"Basic {SECRET}", [SECRET], False),
        (SECRET, [SECRET], False),
        ("Bearer ", [SECRET], False),
        ("Bearer", [SECRET], False),
        ("Bearer t2", ["t1", "t2", "t3"], True),
        ("Bearer t4", ["t1", "t2", "t3"], False),
        ("Bearer ünïcode", ["ünïcode"], True),
    ],
)
def test_token_ok(header: str | None, tokens: list[str], expected: bool) -> None:
    assert token_ok(header, tokens) is expected


def _guarded_app(tokens: list[str]) -> Litestar:
    @post("/mutate", opt={MUTATING_OPT: True})
    async def mutate() -> dict[str, Any]:
        return {"ok": True}

    @get("/read")
    async def read() -> dict[str, Any]:
        return {"ok": True}

    @websocket("/ws", opt={MUTATING_OPT: True})
    async def ws(socket: WebSocket[Any, Any, Any]) -> None:
        await socket.accept()
        await socket.send_text("hello")
        await socket.close()

    return Litestar(
        [mutate, read, ws],
        guards=[token_guard(tokens)],
        exception_handlers=exception_handlers(1024 * 1024),
        logging_config=None,
    )


@pytest.fixture
def guarded() -> Iterator[TestClient[Any]]:
    with TestClient(_guarded_app([SECRET, "other"])) as client:
        yield client


def _assert_unauthorized(response: Any) -> None:
    assert response.status_code == 401
    body = response.json()
    assert body["status"] == 401
    assert body["code"] == "E_UNAUTHORIZED"
    assert isinstance(body["detail"], str) and body["detail"]
    assert response.headers["www-authenticate"].lower().startswith("bearer")


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {SECRET}"}],
)
def test_mutating_route_needs_a_valid_token(
    guarded: TestClient[Any], headers: dict[str, str]
) -> None:
    _assert_unauthorized(guarded.post("/mutate", json={}, headers=headers))


def test_mutating_route_accepts_each_configured_token(guarded: TestClient[Any]) -> None:
    for token in (SECRET, "other"):
        response = guarded.post("/mutate", json={}, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 201, response.text


def test_read_route_needs_no_token(guarded: TestClient[Any]) -> None:
    assert guarded.get("/read").status_code == 200


def test_websocket_without_token_is_closed_4401(guarded: TestClient[Any]) -> None:
    with pytest.raises(WebSocketDisconnect) as info:
        with guarded.websocket_connect("/ws") as socket:
            socket.receive_text()
    assert info.value.code == WS_UNAUTHORIZED_CLOSE_CODE


def test_websocket_with_token_is_served(guarded: TestClient[Any]) -> None:
    headers = {"Authorization": f"Bearer {SECRET}"}
    with guarded.websocket_connect("/ws", headers=headers) as socket:
        assert socket.receive_text() == "hello"


def test_no_tokens_means_open() -> None:
    with TestClient(_guarded_app([])) as client:
        assert client.post("/mutate", json={}).status_code == 201
        with client.websocket_connect("/ws") as socket:
            assert socket.receive_text() == "hello"


def test_rejected_token_is_never_logged(guarded: TestClient[Any]) -> None:
    presented = "Bearer almost-" + SECRET
    with structlog.testing.capture_logs() as logs:
        guarded.post("/mutate", json={}, headers={"Authorization": presented})
        guarded.post("/mutate", json={}, headers={"Authorization": f"Bearer {SECRET}"})
    assert any(entry["event"] == "auth_rejected" for entry in logs)
    assert SECRET not in repr(logs)


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
    ("host", "tokens", "warned"),
    [("0.0.0.0", [], True), ("0.0.0.0", ["t"], False), ("127.0.0.1", [], False)],
)
def test_open_public_server_warns(
    make_settings: Callable[..., Settings], host: str, tokens: list[str], warned: bool
) -> None:
    settings = make_settings({"server": {"host": host}, "security": {"api_tokens": tokens}})
    with structlog.testing.capture_logs() as logs:
        assert warn_if_open(settings) is warned
    assert any(e["event"] == "auth_disabled_on_public_address" for e in logs) is warned


# The mutating routes the SPEC names; each one, where this deployment has it, must be guarded.
_EXPECTED_MUTATING = {
    ("POST", "/worldservice/rebalancing/apply"),
    ("POST", "/worldservice/allocations"),
    ("POST", "/rebalancing/apply"),
    ("POST", "/rebalancing/execute"),
}


def _http_handlers(app: Litestar) -> Iterator[tuple[str, str, HTTPRouteHandler]]:
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if isinstance(handler, HTTPRouteHandler):
                for method in handler.http_methods:
                    yield method, route.path, handler


def test_spec_mutating_routes_are_marked(client: TestClient[Any]) -> None:
    app = client.app
    marked = {(m, p) for m, p, h in _http_handlers(app) if h.opt.get(MUTATING_OPT)}
    present = {(m, p) for m, p, _ in _http_handlers(app)}
    assert _EXPECTED_MUTATING & present <= marked
    for route in app.routes:
        if route.path == "/events" and hasattr(route, "route_handler"):
            assert route.route_handler.opt.get(MUTATING_OPT), "WS /events must need a token"


def test_every_mutating_route_of_the_app_refuses_without_token(
    make_client: Callable[..., TestClient[Any]],
) -> None:
    client = make_client({"security": {"api_tokens": [SECRET]}})
    for method, path, handler in _http_handlers(client.app):
        if not handler.opt.get(MUTATING_OPT) or "{" in path:
            continue
        _assert_unauthorized(client.request(method, path, json={}))
        _assert_unauthorized(
            client.request(method, path, json={}, headers={"Authorization": "Bearer nope"})
        )
        ok = client.request(method, path, json={}, headers={"Authorization": f"Bearer {SECRET}"})
        assert ok.status_code != 401
    # /metrics and /schema are never guarded: reads stay open.
    assert client.get("/metrics").status_code == 200
    assert client.get("/schema/openapi.json").status_code == 200


def test_events_websocket_needs_a_token_when_configured(
    make_client: Callable[..., TestClient[Any]],
) -> None:
    client = make_client({"security": {"api_tokens": [SECRET]}})
    with pytest.raises(WebSocketDisconnect) as info:
        with client.websocket_connect("/events") as socket:
            socket.receive_text()
    assert info.value.code == WS_UNAUTHORIZED_CLOSE_CODE
    headers = {"Authorization": f"Bearer {SECRET}"}
    with client.websocket_connect("/events", headers=headers) as socket:
        assert '"subscribed"' in socket.receive_text()


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
async def test_gateway_http_client_carries_the_token_to_worldservice(
    make_client: Callable[..., TestClient[Any]],
) -> None:
    """A split deployment: the Gateway's WorldService client sends the shared token."""
    worldservice = make_client(
        {"server": {"roles": ["worldservice"]}, "security": {"api_tokens": [SECRET]}}
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
    reply = await apply_with(SECRET)
    assert msgspec.json.decode(reply.content)["run_id"] == f"r-{SECRET}"
