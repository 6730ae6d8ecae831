"""Every route of the app, called with a key that lacks its scope (403 naming it) and with a
key that holds only that scope (success). A route without a recipe here fails the test, so
a new route cannot ship without its scope being exercised."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from litestar.exceptions import WebSocketDisconnect
from litestar.testing import TestClient

from app.contracts.keys import SCOPES
from app.web.auth import WS_FORBIDDEN_CLOSE_CODE
from app.web.scope_table import scope_rows
from tests.web.keys_support import (
    ROOT_SECRET,
    auth,
    execute_body,
    make_key,
    plan_body,
    root_settings,
)

Client = TestClient[Any]
Headers = dict[str, str]
Recipe = Callable[[Client, Headers], httpx.Response]
_ids = itertools.count()
LIVE = {"X-Allow-Live": "true"}


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_ids)}"


def preview(client: Client) -> tuple[str, str]:
    """A stored preview (made with the root key): ``(execution_id, etag)``."""
    answer = client.post("/rebalancing/execute", json=execute_body(), headers=auth(ROOT_SECRET))
    assert answer.status_code == 200, answer.text
    return answer.json()["execution_id"], answer.json()["etag"]


def alloc_body(run_id: str, **extra: Any) -> dict[str, Any]:
    return {"run_id": run_id, "total_equity": 100_000.0, "world_allocations": {"w1": 0.3},
            "positions": [{"world_id": "w1", "strategy_id": "s", "symbol": "X", "qty": 10.0,
                           "mark": 10.0}], **extra}


def submit_recipe(client: Client, headers: Headers) -> httpx.Response:
    execution_id, etag = preview(client)
    return client.post(f"/rebalancing/executions/{execution_id}/submit",
                       headers={**headers, **LIVE, "If-Match": f'"{etag}"'})


def get_execution(client: Client, headers: Headers) -> httpx.Response:
    execution_id, _ = preview(client)
    return client.get(f"/rebalancing/executions/{execution_id}", headers=headers)


def get_plan(client: Client, headers: Headers) -> httpx.Response:
    """A plan applied with the root key, read back by its run id."""
    run_id = unique("read-back")
    applied = client.post("/worldservice/rebalancing/apply",
                          json={**plan_body(), "run_id": run_id}, headers=auth(ROOT_SECRET))
    assert applied.status_code == 200, applied.text
    return client.get(f"/worldservice/rebalancing/plans/{run_id}", headers=headers)


def throwaway_key(client: Client) -> str:
    return make_key(client, unique("throwaway"), ["read"])[0]


RECIPES: dict[tuple[str, str], Recipe] = {
    ("GET", "/health"): lambda c, h: c.get("/health", headers=h),
    ("GET", "/ready"): lambda c, h: c.get("/ready", headers=h),
    ("GET", "/metrics"): lambda c, h: c.get("/metrics", headers=h),
    ("GET", "/schema/*"): lambda c, h: c.get("/schema/openapi.json", headers=h),
    # The console's own routes need no key: they forward the browser's key to the API.
    ("GET", "/console/*"): lambda c, h: c.get("/console/", headers=h),
    ("POST", "/console/*"):
        lambda c, h: c.post("/console/fragments/preview", headers={**h, "HX-Request": "true"},
                            json={"positions": "[]", "targets": "a=0.5"}),
    ("GET", "/status"): lambda c, h: c.get("/status", headers=h),
    ("GET", "/allocations"): lambda c, h: c.get("/allocations", headers=h),
    ("GET", "/worldservice/allocations"):
        lambda c, h: c.get("/worldservice/allocations", headers=h),
    ("GET", "/worldservice/capabilities"):
        lambda c, h: c.get("/worldservice/capabilities", headers=h),
    ("GET", "/worldservice/rebalancing/plans"):
        lambda c, h: c.get("/worldservice/rebalancing/plans", headers=h),
    ("GET", "/worldservice/rebalancing/plans/{run_id}"): get_plan,
    ("GET", "/risk/state"): lambda c, h: c.get("/risk/state", headers=h),
    ("GET", "/risk/worlds/{world_id}"): lambda c, h: c.get("/risk/worlds/w1", headers=h),
    ("GET", "/risk/history"): lambda c, h: c.get("/risk/history", headers=h),
    ("GET", "/risk/limits"): lambda c, h: c.get("/risk/limits", headers=h),
    ("GET", "/rebalancing/executions"):
        lambda c, h: c.get("/rebalancing/executions", headers=h),
    ("GET", "/rebalancing/executions/{execution_id}"): get_execution,
    ("POST", "/rebalancing/plan"): lambda c, h: c.post("/rebalancing/plan", json=plan_body(),
                                                       headers=h),
    ("POST", "/worldservice/rebalancing/plan"):
        lambda c, h: c.post("/worldservice/rebalancing/plan", json=plan_body(), headers=h),
    ("POST", "/rebalancing/apply"):
        lambda c, h: c.post("/rebalancing/apply",
                            json={**plan_body(), "run_id": unique("gw")}, headers=h),
    ("POST", "/worldservice/rebalancing/apply"):
        lambda c, h: c.post("/worldservice/rebalancing/apply",
                            json={**plan_body(), "run_id": unique("ws")}, headers=h),
    ("POST", "/worldservice/allocations"):
        lambda c, h: c.post("/worldservice/allocations", json=alloc_body(unique("al")),
                            headers=h),
    ("POST", "/rebalancing/execute"):
        lambda c, h: c.post("/rebalancing/execute", json=execute_body(), headers=h),
    ("POST", "/rebalancing/executions/{execution_id}/submit"): submit_recipe,
    ("PUT", "/risk/state"):
        lambda c, h: c.put("/risk/state", json={"state": "ACTIVE", "reason": "walk"}, headers=h),
    ("PUT", "/risk/worlds/{world_id}"):
        lambda c, h: c.put("/risk/worlds/w1", json={"state": "ACTIVE", "reason": "walk"},
                           headers=h),
    ("GET", "/keys"): lambda c, h: c.get("/keys", headers=h),
    ("POST", "/keys"): lambda c, h: c.post("/keys", json={"name": unique("k"),
                                                          "scopes": ["read"]}, headers=h),
    ("GET", "/keys/{key_id}"): lambda c, h: c.get("/keys/root", headers=h),
    ("POST", "/keys/{key_id}/revoke"):
        lambda c, h: c.post(f"/keys/{throwaway_key(c)}/revoke", json={}, headers=h),
    ("GET", "/audit"): lambda c, h: c.get("/audit", headers=h),
}


@pytest.fixture
def walk(make_client: Callable[..., Client]) -> tuple[Client, dict[str, str], dict[str, str]]:
    """The app with a root key, plus per scope a key holding only it and one holding every
    other scope: ``(client, only[scope] -> secret, all_but[scope] -> secret)``."""
    client = make_client(root_settings())
    only = {s: make_key(client, f"only-{s}", [s])[1] for s in SCOPES}
    all_but = {s: make_key(client, f"all-but-{s}", [o for o in SCOPES if o != s])[1]
               for s in SCOPES}
    return client, only, all_but


def test_every_route_refuses_without_its_scope_and_serves_with_only_it(
    walk: tuple[Client, dict[str, str], dict[str, str]],
) -> None:
    client, only, all_but = walk
    rows = scope_rows(client.app)
    http_rows = {(m, p): s for m, p, s in rows if m != "WS"}
    assert len(http_rows) == len([r for r in rows if r[0] != "WS"]), "one scope per route"
    assert set(http_rows) == set(RECIPES), "every route needs a recipe here (and no more)"
    for (method, path), shown in http_rows.items():
        recipe = RECIPES[(method, path)]
        if shown.startswith("public"):
            answer = recipe(client, {})
            assert answer.status_code == 200, (method, path, answer.text)
            continue
        scope = shown.split("`")[1]
        refused = recipe(client, auth(all_but[scope]))
        assert refused.status_code == 403, (method, path, refused.text)
        assert refused.json()["code"] == "E_FORBIDDEN_SCOPE"
        assert refused.json()["missing_scope"] == scope, (method, path)
        served = recipe(client, auth(only[scope]))
        assert 200 <= served.status_code < 300, (method, path, served.status_code, served.text)


def test_the_websocket_needs_read_and_audit_needs_admin(
    walk: tuple[Client, dict[str, str], dict[str, str]],
) -> None:
    client, only, all_but = walk
    with pytest.raises(WebSocketDisconnect) as info:
        with client.websocket_connect("/events", headers=auth(all_but["read"])) as ws:
            ws.receive_text()
    assert info.value.code == WS_FORBIDDEN_CLOSE_CODE
    with client.websocket_connect("/events", headers=auth(only["read"])) as ws:
        subscribed = ws.receive_json()
        assert subscribed["type"] == "subscribed" and "audit" not in subscribed["topics"]
    with client.websocket_connect("/events?topics=audit", headers=auth(only["read"])) as ws:
        frame = ws.receive_json()
        assert frame["type"] == "error" and frame["code"] == "E_FORBIDDEN_SCOPE"
        assert "`admin`" in frame["detail"]
    both = make_key(client, "reader-admin", ["read", "admin"])[1]
    with client.websocket_connect("/events?topics=audit", headers=auth(both)) as ws:
        assert ws.receive_json()["topics"] == ["audit"]
    # Both refusals are on record.
    refusals = client.get("/audit", params={"route": "/events"}, headers=auth(ROOT_SECRET))
    assert [(e["status"], e["reason"]) for e in refusals.json()["entries"]] == [
        (403, "missing_scope:read"), (403, "missing_scope:admin")]


def test_request_dependent_scopes(
    walk: tuple[Client, dict[str, str], dict[str, str]],
) -> None:
    client, only, _ = walk
    executor = make_key(client, "executor", ["execute"])[1]
    trader = make_key(client, "trader", ["execute", "submit"])[1]
    refused = client.post("/rebalancing/execute?submit=true", json=execute_body(),
                          headers={**auth(executor), **LIVE})
    assert refused.status_code == 403 and refused.json()["missing_scope"] == "submit"
    served = client.post("/rebalancing/execute?submit=true", json=execute_body(),
                         headers={**auth(trader), **LIVE})
    assert served.status_code == 200 and served.json()["submitted"] is True
    # The live guard still applies on top of the scope.
    guarded = client.post("/rebalancing/execute?submit=true", json=execute_body(),
                          headers=auth(trader))
    assert guarded.status_code == 403 and guarded.json()["code"] == "E_PERMISSION_DENIED"

    refused = client.post("/worldservice/allocations", json=alloc_body("ex-1", execute=True),
                          headers=auth(only["apply"]))
    assert refused.status_code == 403 and refused.json()["missing_scope"] == "submit"
    applier = make_key(client, "applier-submitter", ["apply", "submit"])[1]
    served = client.post("/worldservice/allocations", json=alloc_body("ex-1", execute=True),
                         headers=auth(applier))
    assert served.status_code == 200 and served.json()["executed"] is True
