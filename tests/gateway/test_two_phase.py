"""Risk-checked execute and two-phase execution over HTTP: preview, then submit."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from app.settings import Settings
from tests.gateway.factories import request_body

Client = TestClient[Any]
LIVE = {"X-Allow-Live": "true"}
# World a shrinks (sell BTC 1 of a long 2, buy ETH 5 of a short 10); world b grows (+0.5 BTC).
BODY = request_body(world_alloc_after={"a": 0.25, "b": 0.75})


def orders_of(answer: dict[str, Any]) -> dict[str, list[tuple[str, float]]]:
    return {
        w: [(o["symbol"], o["quantity"]) for o in items]
        for w, items in answer["orders_per_world"].items()
    }


def denials(answer: dict[str, Any]) -> list[tuple[str, str, float, str]]:
    return [(d["world_id"], d["symbol"], d["quantity"], d["code"]) for d in answer["denied"]]


def set_state(client: Client, state: str, world: str | None = None) -> None:
    path = "/risk/state" if world is None else f"/risk/worlds/{world}"
    response = client.put(path, json={"state": state, "reason": "test"})
    assert response.status_code == 200, response.text


def preview(client: Client, query: str = "", body: dict[str, Any] = BODY) -> dict[str, Any]:
    response = client.post(f"/rebalancing/execute{query}", json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    assert answer["state"] == "previewed" and answer["submitted"] is False
    return answer


def submit(client: Client, answer: dict[str, Any], **headers: str) -> Any:
    return client.post(
        f"/rebalancing/executions/{answer['execution_id']}/submit",
        headers={**LIVE, "If-Match": f'"{answer["etag"]}"', **headers},
    )


def orders_events(settings: Settings) -> list[dict[str, Any]]:
    with sqlite3.connect(Path(settings.store.sqlite_path)) as conn:
        rows = conn.execute(
            "SELECT body FROM events WHERE topic = 'rebalancing_orders' ORDER BY seq"
        ).fetchall()
    conn.close()
    return [msgspec.json.decode(bytes(r[0]))["data"] for r in rows]


def test_preview_then_submit_exactly_its_orders(
    client: Client, make_settings: Callable[..., Settings]
) -> None:
    answer = preview(client)
    assert answer["status"] == "completed" and answer["denied"] == []
    assert orders_of(answer) == {"a": [("BTC", -1.0), ("ETH", 5.0)], "b": [("BTC", 0.5)]}
    assert answer["expires_at"] and answer["risk_states"]["global"]["state"] == "ACTIVE"
    assert sorted(answer["risk_states"]["worlds"]) == ["a", "b"]
    assert orders_events(make_settings()) == []  # a preview sends nothing
    read = client.get(f"/rebalancing/executions/{answer['execution_id']}")
    assert read.status_code == 200 and read.json() == answer

    done = submit(client, answer)
    assert done.status_code == 200, done.text
    assert done.headers["x-idempotent-replay"] == "false"
    final = done.json()
    assert final["state"] == "submitted" and final["submitted"] is True
    assert final["execution_id"] == answer["execution_id"] and final["etag"] == answer["etag"]
    assert orders_of(final) == orders_of(answer) and "expires_at" not in final
    events = orders_events(make_settings())
    assert [(e["world_id"], e["execution_id"]) for e in events] == [
        ("a", answer["execution_id"]), ("b", answer["execution_id"])
    ]
    # Submitting again replays the stored answer and records nothing more.
    again = submit(client, answer)
    assert again.status_code == 200 and again.json() == final
    assert again.headers["x-idempotent-replay"] == "true"
    assert len(orders_events(make_settings())) == 2
    assert client.get(f"/rebalancing/executions/{answer['execution_id']}").json() == final


def test_submit_needs_if_match_the_right_etag_and_the_live_header(client: Client) -> None:
    answer = preview(client)
    url = f"/rebalancing/executions/{answer['execution_id']}/submit"
    missing = client.post(url, headers=LIVE)
    assert missing.status_code == 428 and missing.json()["code"] == "E_PRECONDITION_REQUIRED"
    assert missing.json()["etag"] == answer["etag"]
    wrong = client.post(url, headers={**LIVE, "If-Match": '"0123"'})
    assert wrong.status_code == 412 and wrong.json()["code"] == "E_PRECONDITION_FAILED"
    assert wrong.json()["preview"]["etag"] == answer["etag"]
    no_live = client.post(url, headers={"If-Match": answer["etag"]})
    assert no_live.status_code == 403 and no_live.json()["code"] == "E_PERMISSION_DENIED"
    unknown = client.post("/rebalancing/executions/nope/submit", headers=LIVE)
    assert unknown.status_code == 404 and unknown.json()["code"] == "E_EXECUTION_NOT_FOUND"
    assert submit(client, answer).status_code == 200  # still submittable after all that


def test_halting_a_world_while_a_preview_is_pending_makes_its_submit_412(
    client: Client, make_settings: Callable[..., Settings]
) -> None:
    answer = preview(client)
    set_state(client, "HALTED", "a")
    refused = submit(client, answer)
    assert refused.status_code == 412, refused.text
    body = refused.json()
    assert body["code"] == "E_PRECONDITION_FAILED"
    fresh = body["preview"]
    assert fresh["state"] == "previewed" and fresh["execution_id"] != answer["execution_id"]
    assert fresh["status"] == "completed_adjusted"
    assert orders_of(fresh) == {"b": [("BTC", 0.5)]}
    assert denials(fresh) == [("a", "BTC", -1.0, "WORLD_HALTED"), ("a", "ETH", 5.0, "WORLD_HALTED")]
    assert fresh["risk_states"]["worlds"]["a"]["state"] == "HALTED"
    assert orders_events(make_settings()) == []
    # The fresh preview is stored and can be submitted as it stands.
    assert client.get(f"/rebalancing/executions/{fresh['execution_id']}").json() == fresh
    done = submit(client, fresh)
    assert done.status_code == 200 and orders_of(done.json()) == {"b": [("BTC", 0.5)]}
    assert [e["world_id"] for e in orders_events(make_settings())] == ["b"]


def test_a_state_change_that_keeps_the_orders_lets_the_submit_through(client: Client) -> None:
    answer = preview(client, body=request_body())  # world a only shrinks
    set_state(client, "REDUCING")
    done = submit(client, answer)
    assert done.status_code == 200, done.text
    assert done.json()["risk_states"]["global"]["state"] == "REDUCING"


def test_halted_submit_is_rejected_and_records_nothing(
    client: Client, make_settings: Callable[..., Settings]
) -> None:
    set_state(client, "HALTED")
    rejected = client.post("/rebalancing/execute?submit=true", json=BODY, headers=LIVE)
    assert rejected.status_code == 422
    body = rejected.json()
    assert body["code"] == "E_RISK_REJECTED" and body["execution_status"] == "rejected"
    assert {d["code"] for d in body["denied"]} == {"GLOBAL_HALTED"} and len(body["denied"]) == 3
    assert orders_events(make_settings()) == []
    dry = preview(client)  # a preview still shows what would be denied
    assert dry["status"] == "rejected" and orders_of(dry) == {}
    refused = submit(client, dry)
    assert refused.status_code == 422 and refused.json()["code"] == "E_RISK_REJECTED"


def test_reducing_submits_the_shrinking_orders_or_nothing(
    client: Client, make_settings: Callable[..., Settings]
) -> None:
    set_state(client, "REDUCING", "b")
    strict = client.post(
        "/rebalancing/execute?submit=true&all_or_nothing=true", json=BODY, headers=LIVE
    )
    assert strict.status_code == 422 and strict.json()["code"] == "E_RISK_REJECTED"
    assert strict.json()["execution_status"] == "completed_adjusted"
    assert orders_events(make_settings()) == []
    done = client.post("/rebalancing/execute?submit=true", json=BODY, headers=LIVE)
    assert done.status_code == 200, done.text
    answer = done.json()
    assert answer["status"] == "completed_adjusted" and answer["state"] == "submitted"
    assert denials(answer) == [("b", "BTC", 0.5, "REDUCING_ONLY")]
    assert [e["world_id"] for e in orders_events(make_settings())] == ["a"]
    # An all-or-nothing preview with a denial cannot be submitted either.
    aon = preview(client, "?all_or_nothing=true")
    assert aon["all_or_nothing"] is True and aon["status"] == "completed_adjusted"
    assert submit(client, aon).status_code == 422


def test_expired_preview_is_410(make_client: Callable[..., Client]) -> None:
    client = make_client({"gateway": {"risk": {"preview_ttl_seconds": 0.05}}})
    answer = preview(client)
    time.sleep(0.2)
    late = submit(client, answer)
    assert late.status_code == 410 and late.json()["code"] == "E_PREVIEW_EXPIRED"
    assert client.get(f"/rebalancing/executions/{answer['execution_id']}").status_code == 410


def test_limits_deny_orders_in_the_answer(make_client: Callable[..., Client]) -> None:
    risk = {"max_order_notional": 1500.0, "restricted": {"do_not_buy": ["ETH"]}}
    client = make_client({"gateway": {"risk": risk}})
    answer = preview(client, body=request_body(world_alloc_after={"a": 0.25, "b": 1.0}))
    # a: sell BTC 1 (1000) passes, buy ETH 5 is restricted; b: buy BTC 1 (1000) passes.
    assert denials(answer) == [("a", "ETH", 5.0, "RESTRICTED_BUY")]
    tight = make_client({"gateway": {"risk": {"max_order_notional": 600.0}}})
    got = preview(tight, body=request_body(world_alloc_after={"a": 0.25, "b": 1.0}))
    assert [d[3] for d in denials(got)] == ["MAX_ORDER_NOTIONAL", "MAX_ORDER_NOTIONAL"]


def test_rate_limit_spends_tokens_on_submit_only(make_client: Callable[..., Client]) -> None:
    client = make_client({"gateway": {"risk": {"order_rate_per_minute": 2.0}}})
    first = preview(client)  # a wants 2 orders, b 1: every bucket holds 2
    assert first["status"] == "completed"
    again = preview(client)  # a preview takes no token
    assert again["status"] == "completed"
    assert submit(client, first).status_code == 200  # a's bucket: 0 left, b's: 1
    later = preview(client)
    assert denials(later) == [("a", "BTC", -1.0, "RATE_LIMITED"), ("a", "ETH", 5.0, "RATE_LIMITED")]
    # The second preview was judged with full buckets: its orders would differ now.
    stale = submit(client, again)
    assert stale.status_code == 412
    assert stale.json()["preview"]["status"] == "completed_adjusted"


def test_allocations_with_execute_are_risk_checked(
    client: Client, make_settings: Callable[..., Settings]
) -> None:
    body = request_body()
    alloc = {
        "total_equity": body["total_equity"],
        "positions": body["positions"],
        "world_allocations": {"a": 0.5, "b": 0.5},
    }
    first = client.post("/worldservice/allocations", json={**alloc, "run_id": "r1"})
    assert first.status_code == 200
    set_state(client, "HALTED", "a")
    run = {**alloc, "run_id": "r2", "world_allocations": {"a": 0.25, "b": 0.5}, "execute": True}
    refused = client.post("/worldservice/allocations", json=run)
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "E_RISK_REJECTED"
    assert orders_events(make_settings()) == []
    assert client.get("/worldservice/allocations?world_id=a").json()["allocations"]["a"][
        "allocation"
    ] == 0.25  # the allocation itself was stored
    set_state(client, "ACTIVE", "a")
    retried = client.post("/worldservice/allocations", json=run)  # same run_id: executes now
    assert retried.status_code == 200, retried.text
    assert [e["world_id"] for e in orders_events(make_settings())] == ["a"]


@pytest.mark.parametrize("query", ["?shared_account=true", "?per_strategy=true"])
def test_other_scopes_preview_and_submit(make_client: Callable[..., Client], query: str) -> None:
    client = make_client({"gateway": {"shared_account_policy": {"enabled": True}}})
    answer = preview(client, query, body=request_body())
    done = submit(client, answer)
    assert done.status_code == 200, done.text
    assert done.json()["scope"] == answer["scope"]
    assert done.json().get("orders_global") == answer.get("orders_global")
