"""Hostile bodies at every route that reads one: 4xx in the one error shape, never a 500.

Invalid UTF-8, JSON nested about a thousand levels deep (a 2 KB body) and bodies that are
not JSON by their content type reach every body route the app has (POST and PUT), open
and guarded alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.testing import TestClient

from app.main import create_app
from app.settings import Settings

TOKEN = "edge-token-0123456789"
_AUTH = {"Authorization": f"Bearer {TOKEN}"}
_JSON = {"content-type": "application/json", **_AUTH}


def _body_routes(app: Litestar) -> list[tuple[str, str]]:
    """Every (method, path) whose handler reads a body (it documents one, as ``*_body``)."""
    found = set()
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if not isinstance(handler, HTTPRouteHandler):
                continue
            if any(name.endswith("_body") for name in handler.dependencies or {}):
                for method in handler.http_methods & {"POST", "PUT", "PATCH"}:
                    found.add((method, route.path.replace("{world_id:str}", "w1")))
    return sorted(found)


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient[Any]]:
    from app.settings import load_settings

    settings: Settings = load_settings(
        environ={},
        overrides={
            "store": {"sqlite_path": str(tmp_path_factory.mktemp("edge") / "db.sqlite3")},
            "security": {"api_tokens": [TOKEN]},
            "gateway": {"enforce_live_guard": False},
            "server": {"log_level": "error"},
        },
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def _routes() -> list[tuple[str, str]]:
    from app.settings import load_settings

    return _body_routes(create_app(load_settings(environ={})))


ROUTES = _routes()
_VALID = {
    "run_id": "edge-run",
    "total_equity": 1000.0,
    "world_alloc_before": {"w": 0.5},
    "world_alloc_after": {"w": 0.25},
    "world_allocations": {"w": 0.25},
    "positions": [{"world_id": "w", "strategy_id": "s", "symbol": "X", "qty": 1.0, "mark": 10.0}],
}
_DEEP_ARRAY = b'{"x":' + b"[" * 990 + b"]" * 990 + b"}"
_DEEP_OBJECT = b'{"x":' + b'{"a":' * 990 + b"1" + b"}" * 990 + b"}"
_DEEP_META = msgspec.json.encode({**_VALID, "rebalance_intent": {"meta": {"x": 0}}}).replace(
    b'"x":0', b'"x":' + b"[" * 990 + b"]" * 990
)
HOSTILE = {
    "invalid utf-8 in a known field": b'{"mode":"\xff\xfe","run_id":"r"}',
    "invalid utf-8 in run_id": msgspec.json.encode(_VALID).replace(b"edge-run", b"\xc3\x28"),
    "invalid utf-8 in a key": b'{"\xff":1}',
    "deeply nested unknown array": _DEEP_ARRAY,
    "deeply nested unknown object": _DEEP_OBJECT,
    "deeply nested intent meta": _DEEP_META,
}


def test_every_body_route_is_covered() -> None:
    assert set(ROUTES) >= {
        ("POST", "/worldservice/rebalancing/plan"),
        ("POST", "/worldservice/rebalancing/apply"),
        ("POST", "/worldservice/allocations"),
        ("POST", "/rebalancing/plan"),
        ("POST", "/rebalancing/apply"),
        ("POST", "/rebalancing/execute"),
        ("PUT", "/risk/state"),
        ("PUT", "/risk/worlds/w1"),
        ("POST", "/keys"),
        ("POST", "/keys/{key_id:str}/revoke"),
    }


def _assert_error_shape(response: Any, status: int | None = None) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/json"), response.text
    body: dict[str, Any] = response.json()
    assert set(body) >= {"status", "code", "detail"}
    assert body["status"] == response.status_code
    assert body["code"].startswith("E_") and isinstance(body["detail"], str) and body["detail"]
    if status is not None:
        assert response.status_code == status, response.text
    return body


@pytest.mark.parametrize("route", ROUTES, ids=" ".join)
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_bodies_are_client_errors(
    edge: TestClient[Any], route: tuple[str, str], name: str
) -> None:
    method, path = route
    response = edge.request(method, path, content=HOSTILE[name], headers=_JSON)
    assert 400 <= response.status_code < 500, (name, response.status_code, response.text)
    _assert_error_shape(response)


def test_invalid_utf8_and_nesting_say_what_is_wrong(edge: TestClient[Any]) -> None:
    path = "/worldservice/rebalancing/plan"
    body = _assert_error_shape(edge.post(path, content=HOSTILE["invalid utf-8 in run_id"],
                                         headers=_JSON), 400)
    assert body["code"] == "E_MALFORMED_JSON" and "UTF-8" in body["detail"]
    body = _assert_error_shape(edge.post(path, content=_DEEP_ARRAY, headers=_JSON), 400)
    assert body["code"] == "E_MALFORMED_JSON" and "nested" in body["detail"]


@pytest.mark.parametrize("route", ROUTES, ids=" ".join)
@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "text/plain; charset=utf-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/json; charset=latin-1",
        None,
    ],
)
def test_bodies_that_are_not_json_by_media_type_are_415(
    edge: TestClient[Any], route: tuple[str, str], content_type: str | None
) -> None:
    method, path = route
    headers = dict(_AUTH)
    if content_type is not None:
        headers["content-type"] = content_type
    body = msgspec.json.encode(_VALID)
    response = edge.request(method, path, content=body, headers=headers)
    body = _assert_error_shape(response, 415)
    assert body["code"] == "E_UNSUPPORTED_MEDIA_TYPE"


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "Application/JSON",
     "application/vnd.worldgate+json"],
)
def test_json_media_types_are_accepted(edge: TestClient[Any], content_type: str) -> None:
    response = edge.post(
        "/worldservice/rebalancing/plan",
        content=msgspec.json.encode(_VALID),
        headers={"content-type": content_type, **_AUTH},
    )
    assert response.status_code == 200, response.text
