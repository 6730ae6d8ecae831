"""``GET /allocations`` on the Gateway: the same answers as WorldService's, through both faces."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient

from app.main import create_app
from app.settings import load_settings
from app.testing import free_port, serve_in_thread

ALLOC = {
    "run_id": "r1",
    "total_equity": 1000.0,
    "world_allocations": {"a": 0.25, "b": 0.5},
    "strategy_alloc_after_total": {"a": {"s1": 0.25}},
    "positions": [
        {"world_id": "a", "strategy_id": "s1", "symbol": "X", "qty": 1.0, "mark": 10.0},
        {"world_id": "b", "strategy_id": "s2", "symbol": "Y", "qty": 1.0, "mark": 10.0},
    ],
}


@pytest.fixture(scope="module")
def worldservice(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Worldgate WorldService (role only) on a loopback port, with one allocation run."""
    path = tmp_path_factory.mktemp("alloc") / "ws.sqlite3"
    settings = load_settings(
        environ={},
        overrides={"server": {"roles": ["worldservice"]}, "store": {"sqlite_path": str(path)}},
    )
    with serve_in_thread(create_app(settings)) as base:
        assert httpx.post(f"{base}/worldservice/allocations", json=ALLOC).status_code == 200
        yield f"{base}/worldservice"


def _compare(via: TestClient[Any], direct: Callable[..., Any], ws_prefix: str) -> None:
    first = direct(f"{ws_prefix}/allocations", params={"limit": 1}).json()
    assert first["next"]  # two worlds, one per page
    pages: list[dict[str, Any]] = [{"limit": 1}, {"limit": 1, "cursor": first["next"]},
                                   {"cursor": "not-a-cursor"}]
    for params in ({}, {"world_id": "a"}, {"world_id": "nope"}, *pages):
        mine = via.get("/allocations", params=params)
        theirs = direct(f"{ws_prefix}/allocations", params=params)
        assert mine.status_code == theirs.status_code, (params, mine.text)
        assert mine.json() == theirs.json(), params


def test_in_process_gateway_answers_worldservice_allocations(client: TestClient[Any]) -> None:
    assert client.post("/worldservice/allocations", json=ALLOC).status_code == 200
    _compare(client, client.get, "/worldservice")
    snap = client.get("/allocations", params={"world_id": "a"}).json()["allocations"]["a"]
    assert (snap["allocation"], snap["run_id"], snap["ttl"]) == (0.25, "r1", "300s")
    assert snap["strategy_alloc_total"] == {"s1": 0.25}
    missing = client.get("/allocations", params={"world_id": "nope"})
    assert (missing.status_code, missing.json()["code"]) == (404, "E_WORLD_NOT_FOUND")


def test_gateway_over_http_answers_worldservice_allocations(
    make_client: Callable[..., TestClient[Any]], worldservice: str
) -> None:
    gw = make_client(
        {"server": {"roles": ["gateway"]}, "gateway": {"worldservice_url": worldservice}}
    )
    _compare(gw, httpx.get, worldservice)


def test_unreachable_worldservice_is_503(make_client: Callable[..., TestClient[Any]]) -> None:
    url = f"http://127.0.0.1:{free_port()}/worldservice"
    gw = make_client(
        {
            "server": {"roles": ["gateway"]},
            "gateway": {"worldservice_url": url, "worldservice_retries": 0},
        }
    )
    response = gw.get("/allocations")
    assert (response.status_code, response.json()["code"]) == (503, "E_WORLDSERVICE_UNAVAILABLE")
