"""An apply is the same request whichever door it comes through (Gateway or WorldService).

The Gateway sets ``schema_version`` before it forwards an apply; the idempotency key covers
the request's meaning, not what negotiation changed, so an identical retry through the
other door (or after the Gateway's configured version changed) replays the stored answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from app.main import create_app
from app.settings import load_settings
from app.testing import serve_in_thread
from tests.gateway.factories import request_body

Client = Callable[..., TestClient[Any]]
V2 = {
    "worldservice": {"server": {"compat_rebalance_v2": True}},
    "gateway": {"rebalance_schema_version": 2},
}
GATEWAY = "/rebalancing/apply"
WORLDSERVICE = "/worldservice/rebalancing/apply"


def _replayed(response: Any) -> bool:
    assert response.status_code == 200, response.text
    flag = response.headers["x-idempotent-replay"]
    assert flag in ("true", "false")
    return bool(flag == "true")


@pytest.mark.parametrize(("first", "second"), [(WORLDSERVICE, GATEWAY), (GATEWAY, WORLDSERVICE)])
def test_a_retry_through_the_other_door_is_a_replay(
    make_client: Client, first: str, second: str
) -> None:
    client = make_client(V2)
    body = request_body(run_id=f"doors-{first.count('/')}")
    one = client.post(first, json=body)
    assert not _replayed(one)
    two = client.post(second, json=body)
    assert _replayed(two)
    assert two.content == one.content
    changed = request_body(run_id=body["run_id"], total_equity=1.0)
    conflict = client.post(second, json=changed)
    assert conflict.status_code == 409 and conflict.json()["code"] == "E_RUN_ID_CONFLICT"


def test_a_retry_after_the_gateway_version_changed_is_a_replay(tmp_path: Path) -> None:
    db = {"store": {"sqlite_path": str(tmp_path / "shared.sqlite3")}}
    v2 = load_settings(environ={}, overrides={**db, **V2})
    v1 = load_settings(
        environ={},
        overrides={**db, "worldservice": {"server": {"compat_rebalance_v2": True}}},
    )
    body = request_body(run_id="doors-version")
    with TestClient(create_app(v2)) as client:
        first = client.post(GATEWAY, json=body)
        assert not _replayed(first) and first.json()["schema_version"] == 2
    with TestClient(create_app(v1)) as client:  # the Gateway now asks for v1
        again = client.post(GATEWAY, json=body)
        assert _replayed(again) and again.content == first.content


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, TestClient[Any]]]:
    """A WorldService server on loopback and a gateway-only app in front of it."""
    root = tmp_path_factory.mktemp("split")
    ws = load_settings(environ={}, overrides={
        "store": {"sqlite_path": str(root / "ws.sqlite3")},
        "server": {"roles": ["worldservice"]}, **V2,
    })
    with serve_in_thread(create_app(ws)) as base:
        gw = load_settings(environ={}, overrides={
            "store": {"sqlite_path": str(root / "gw.sqlite3")},
            "server": {"roles": ["gateway"]},
            "gateway": {"worldservice_url": f"{base}/worldservice",
                        "rebalance_schema_version": 2},
        })
        with TestClient(create_app(gw)) as gateway:
            yield base, gateway


def test_the_gateway_passes_the_replay_flag_through_over_http(
    split: tuple[str, TestClient[Any]],
) -> None:
    import httpx

    base, gateway = split
    body = request_body(run_id="doors-http")
    first = gateway.post(GATEWAY, json=body)
    assert not _replayed(first)
    assert _replayed(gateway.post(GATEWAY, json=body))
    direct = httpx.post(f"{base}{WORLDSERVICE}", json=body)
    assert _replayed(direct) and direct.content == first.content
