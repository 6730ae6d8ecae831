"""Trading states over HTTP and WebSocket: ``/risk/state``, ``/risk/worlds``, history,
limits, the ``risk_state_changed`` event, and restarts."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from litestar.testing import TestClient

from tests.gateway.events_ws_support import RECEIVE_TIMEOUT

Client = TestClient[Any]
TOKEN = "s3cret-token-value"


def put_world(client: Client, world: str, state: str, reason: str = "drill", **headers: str) -> Any:
    return client.put(f"/risk/worlds/{world}", json={"state": state, "reason": reason},
                      headers=headers)


def test_default_state_is_active_everywhere(client: Client) -> None:
    body = client.get("/risk/state").json()
    assert body["global"]["state"] == "ACTIVE" and body["worlds"] == {}
    assert body["global"]["updated_at"] is None and body["global"]["etag"]
    one = client.get("/risk/worlds/w1")
    assert one.status_code == 200
    assert one.json()["state"] == "ACTIVE" and one.json()["world_id"] == "w1"
    assert one.headers["etag"] == f'"{one.json()["etag"]}"'
    assert client.get("/risk/worlds/w1").json()["etag"] == one.json()["etag"]  # stable


def test_set_world_and_global_states(client: Client) -> None:
    halted = put_world(client, "w1", "HALTED", "fat finger in w1")
    assert halted.status_code == 200, halted.text
    body = halted.json()
    assert (body["scope"], body["world_id"], body["state"]) == ("world", "w1", "HALTED")
    assert body["reason"] == "fat finger in w1" and body["actor"] == "anonymous"
    assert body["updated_at"] and halted.headers["etag"] == f'"{body["etag"]}"'
    glob = client.put("/risk/state", json={"state": "REDUCING", "reason": "vol spike"})
    assert glob.status_code == 200 and glob.json()["scope"] == "global"
    assert glob.json()["world_id"] is None
    state = client.get("/risk/state").json()
    assert state["global"]["state"] == "REDUCING"
    assert state["worlds"]["w1"]["state"] == "HALTED"
    assert state["worlds"]["w1"]["etag"] == body["etag"]


def test_if_match_guards_a_change(client: Client) -> None:
    first = client.get("/risk/worlds/w1").json()["etag"]  # the never-set default
    ok = put_world(client, "w1", "REDUCING", **{"If-Match": f'"{first}"'})
    assert ok.status_code == 200
    stale = put_world(client, "w1", "HALTED", **{"If-Match": f'"{first}"'})
    assert stale.status_code == 412
    err = stale.json()
    assert err["code"] == "E_PRECONDITION_FAILED" and err["status"] == 412
    assert err["current"]["state"] == "REDUCING" and err["current"]["etag"] == ok.json()["etag"]
    assert client.get("/risk/worlds/w1").json()["state"] == "REDUCING"  # nothing written
    assert put_world(client, "w1", "HALTED", **{"If-Match": ok.json()["etag"]}).status_code == 200
    assert put_world(client, "w1", "ACTIVE", **{"If-Match": "*"}).status_code == 200
    stale_global = client.put(
        "/risk/state", json={"state": "HALTED", "reason": "x"}, headers={"If-Match": '"nope"'}
    )
    assert stale_global.status_code == 412


@pytest.mark.parametrize(
    "body",
    [
        {"state": "halted", "reason": "lower case"},
        {"state": "PAUSED", "reason": "unknown"},
        {"state": "HALTED"},
        {"state": "HALTED", "reason": ""},
        {"reason": "no state"},
        {"state": "HALTED", "reason": "nul \u0000 inside"},  # PostgreSQL cannot store it
        {"state": "HALTED", "reason": "bell \u0007"},
        ["HALTED"],
    ],
)
def test_bad_bodies_are_422(client: Client, body: Any) -> None:
    response = client.put("/risk/state", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "E_VALIDATION"
    assert client.get("/risk/state").json()["global"]["state"] == "ACTIVE"


def test_bad_world_ids_and_history_queries_are_422(client: Client) -> None:
    long = "w" * 257  # the identifier rule of app.contracts.ids
    assert put_world(client, long, "HALTED").status_code == 422
    assert client.get("/risk/worlds/w%001").status_code == 422
    assert client.get("/risk/history?scope=galaxy").status_code == 422
    assert client.get("/risk/history?scope=global&world_id=w1").status_code == 422
    assert client.get("/risk/history?limit=0").status_code == 422
    assert client.put("/risk/state", content=b"{not json",
                      headers={"content-type": "application/json"}).status_code == 400
    assert client.put("/risk/state", content=b"{}").status_code == 415


def test_history_keeps_every_change_newest_first(client: Client) -> None:
    put_world(client, "w1", "HALTED", "one")
    client.put("/risk/state", json={"state": "REDUCING", "reason": "two"})
    put_world(client, "w2", "REDUCING", "three")
    put_world(client, "w1", "ACTIVE", "four")
    changes = client.get("/risk/history").json()["changes"]
    assert [c["reason"] for c in changes] == ["four", "three", "two", "one"]
    assert changes[0]["previous_state"] == "HALTED" and changes[0]["state"] == "ACTIVE"
    assert changes[2]["scope"] == "global" and changes[2]["world_id"] is None
    assert all(c["actor"] == "anonymous" and c["event_id"] for c in changes)
    w1 = client.get("/risk/history?world_id=w1").json()["changes"]
    assert [c["reason"] for c in w1] == ["four", "one"]
    glob = client.get("/risk/history?scope=global").json()["changes"]
    assert [c["reason"] for c in glob] == ["two"]
    page = client.get("/risk/history?limit=3").json()
    assert len(page["changes"]) == 3 and page["next_before"] == page["changes"][-1]["seq"]
    rest = client.get(f"/risk/history?limit=3&before={page['next_before']}").json()
    assert [c["reason"] for c in rest["changes"]] == ["one"] and rest["next_before"] is None
    # The opaque cursor of every list route pages the same way.
    by_cursor = client.get("/risk/history", params={"limit": 3, "cursor": page["next"]}).json()
    assert by_cursor["changes"] == rest["changes"] and by_cursor["next"] is None
    assert client.get("/risk/history", params={"cursor": "nope"}).status_code == 422


def test_changes_need_a_key_and_record_its_id_and_name(
    make_client: Callable[..., Client],
) -> None:
    client = make_client({"security": {"api_tokens": [TOKEN]}})
    auth = {"Authorization": f"Bearer {TOKEN}"}
    refused = put_world(client, "w1", "HALTED")
    assert refused.status_code == 401 and refused.json()["code"] == "E_UNAUTHORIZED"
    assert client.get("/risk/state").status_code == 401  # reading needs a key too
    assert client.get("/risk/state", headers=auth).status_code == 200
    done = put_world(client, "w1", "HALTED", authorization=f"Bearer {TOKEN}")
    actor = done.json()["actor"]
    key_id = "token:" + hashlib.sha256(TOKEN.encode()).hexdigest()[:12]
    assert actor == f"{key_id} (security.api_tokens[0])"
    history = client.get("/risk/history", headers=auth).text
    assert TOKEN not in history and actor in history


def test_limits_are_visible_in_health_and_at_risk_limits(
    make_client: Callable[..., Client],
) -> None:
    risk = {
        "max_order_notional": 1000.0,
        "max_orders_per_execution": 5,
        "preview_ttl_seconds": 60.0,
        "restricted": {
            "do_not_buy": ["X", "Y"],
            "by_world": {"w1": {"do_not_sell": ["Y", "Z"]}},
        },
    }
    client = make_client({"gateway": {"risk": risk}})
    summary = client.get("/health").json()["risk"]
    assert summary == {
        "max_order_notional": 1000.0,
        "max_world_gross_notional": None,
        "max_orders_per_execution": 5,
        "order_rate_per_minute": None,
        "preview_ttl_seconds": 60.0,
        "restricted_symbols": 3,
        "restricted_worlds": 1,
    }
    limits = client.get("/risk/limits").json()
    assert limits["restricted"] == {
        "do_not_buy": ["X", "Y"],
        "do_not_sell": [],
        "by_world": {"w1": {"do_not_buy": [], "do_not_sell": ["Y", "Z"]}},
    }
    assert limits["max_order_notional"] == 1000.0


def test_a_change_is_relayed_on_topic_risk(client: Client) -> None:
    with (
        client.websocket_connect("/events?topics=risk&world_id=w2") as only_w2,
        client.websocket_connect("/events?topics=rebalancing_orders") as other,
    ):
        assert only_w2.receive_json(timeout=RECEIVE_TIMEOUT)["type"] == "subscribed"
        assert other.receive_json(timeout=RECEIVE_TIMEOUT)["type"] == "subscribed"
        put_world(client, "w1", "HALTED", "not for w2 subscribers")
        put_world(client, "w2", "HALTED", "w2 drill")
        client.put("/risk/state", json={"state": "REDUCING", "reason": "global"})
        first = only_w2.receive_json(timeout=RECEIVE_TIMEOUT)
        second = only_w2.receive_json(timeout=RECEIVE_TIMEOUT)
    assert first["type"] == "risk_state_changed" and first["subject"] == "w2"
    assert first["data"] == {
        "scope": "world", "world_id": "w2", "state": "HALTED", "previous_state": "ACTIVE",
        "reason": "w2 drill", "actor": "anonymous", "updated_at": first["data"]["updated_at"],
        "etag": client.get("/risk/worlds/w2").json()["etag"],
    }
    assert first["seq"] >= 1
    assert second["data"]["scope"] == "global" and second["data"]["state"] == "REDUCING"
    assert "world_id" not in second["data"]


def test_states_survive_a_restart(make_client: Callable[..., Client]) -> None:
    first = make_client()
    put_world(first, "w1", "HALTED", "before restart")
    etag = first.get("/risk/worlds/w1").json()["etag"]
    first.__exit__(None, None, None)
    second = make_client()  # the same SQLite file (the test's tmp dir)
    again = second.get("/risk/worlds/w1").json()
    assert again["state"] == "HALTED" and again["etag"] == etag
    assert again["reason"] == "before restart"


def test_a_reason_may_span_lines(client: Client) -> None:
    body = {"state": "REDUCING", "reason": "vol\tspike\nsee desk"}
    answer = client.put("/risk/state", json=body)
    assert answer.status_code == 200, answer.text
    assert client.get("/risk/state").json()["global"]["reason"] == "vol\tspike\nsee desk"
