"""The console over HTTP against a real server: pages, fragments, actions and their guards."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from app.console.paging import page_of, page_params
from app.console.preview import InputError, build_request, weights_from_request
from app.sdk.client import GatewayClient
from app.web.websocket_token import EVENTS_SUBPROTOCOL, token_from_subprotocol

QUIET = {"server": {"log_level": "error"}}
TOKEN = "console-test-token"
HX = {"HX-Request": "true", "Content-Type": "application/json"}
POSITIONS = "world_id,strategy_id,symbol,qty,mark,venue\na,s,BTC,2,100,x\nb,s,ETH,10,10,x\n"


def _bearer_protocol(token: str) -> str:
    encoded = base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")
    return f"worldgate.bearer.{encoded}"


@pytest.mark.parametrize("page", ["", "events", "plans", "preview", "risk", "reports"])
def test_pages_are_html_with_local_assets_only(live_server: Callable[..., str], page: str) -> None:
    url = live_server(QUIET)
    answer = httpx.get(f"{url}/console/{page}")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    sources = re.findall(r'(?:src|href)="([^"]+)"', answer.text)
    assert sources and all(s.startswith("/console/") for s in sources), sources
    for source in sources:
        if "." in source.rsplit("/", 1)[-1]:
            assert httpx.get(f"{url}{source}").status_code == 200, source


def test_actions_come_from_the_console_page_only(live_server: Callable[..., str]) -> None:
    url = live_server(QUIET)
    form = {"world_id": "w", "state": "HALTED", "reason": "x", "etag": ""}
    refused = httpx.post(f"{url}/console/fragments/risk", json=form)
    assert refused.status_code == 403 and refused.json()["code"] == "E_PERMISSION_DENIED"
    bad = httpx.post(f"{url}/console/fragments/risk", content=b"{", headers=HX)
    assert bad.status_code == 400 and bad.json()["code"] == "E_MALFORMED_JSON"
    listed = httpx.post(f"{url}/console/fragments/risk", content=b"[1]", headers=HX)
    assert listed.status_code == 422 and listed.json()["code"] == "E_VALIDATION"
    deep = b'{"x":' + b"[" * 990 + b"]" * 990 + b"}"
    for hostile in (deep, b'{"\xff":1}', b'{"a":"\xc3\x28"}'):  # never a 500
        answer = httpx.post(f"{url}/console/fragments/preview", content=hostile, headers=HX)
        assert answer.status_code == 400 and answer.json()["code"] == "E_MALFORMED_JSON"
    with GatewayClient(url) as client:
        assert client.risk_state().worlds == {}


def test_risk_change_forwards_the_token(live_server: Callable[..., str]) -> None:
    url = live_server({**QUIET, "security": {"api_tokens": [TOKEN]}})
    form = {"world_id": "w-1", "state": "HALTED", "reason": "drill", "etag": ""}
    denied = httpx.post(f"{url}/console/fragments/risk", json=form, headers=HX)
    assert denied.status_code == 200 and 'data-status="401"' in denied.text
    done = httpx.post(f"{url}/console/fragments/risk", json=form,
                      headers={**HX, "Authorization": f"Bearer {TOKEN}"})
    assert "is now <strong>HALTED</strong>" in done.text
    assert done.headers["HX-Trigger"] == "wg-risk-changed"
    with GatewayClient(url, token=TOKEN) as client:
        assert client.world_state("w-1").state == "HALTED"
    again = httpx.post(f"{url}/console/fragments/risk", headers={**HX, "Authorization":
                       f"Bearer {TOKEN}"}, json={**form, "state": "ACTIVE", "etag": "stale"})
    assert 'data-status="412"' in again.text  # If-Match with a stale etag


def test_preview_renders_plan_or_says_what_is_wrong(live_server: Callable[..., str]) -> None:
    url = live_server(QUIET)
    form = {"positions": POSITIONS, "targets": "a=0.2, b=0.5"}
    answer = httpx.post(f"{url}/console/fragments/preview", json=form, headers=HX)
    assert 'data-chart="weights"' in answer.text and "BTC" in answer.text
    wrong = httpx.post(f"{url}/console/fragments/preview", headers=HX,
                       json={"positions": POSITIONS, "targets": "a=2"})
    assert "Check the form" in wrong.text and "[0, 1]" in wrong.text
    missing = httpx.post(f"{url}/console/fragments/preview", headers=HX,
                         json={"positions": POSITIONS, "targets": "a=0.5"})
    assert 'data-status="422"' in missing.text  # world b has positions but no target


def test_fragments_show_api_errors_and_the_executions_seam(
    live_server: Callable[..., str],
) -> None:
    url = live_server(QUIET)
    missing = httpx.get(f"{url}/console/fragments/execution", params={"execution_id": "nope"})
    assert 'data-status="404"' in missing.text
    empty = httpx.get(f"{url}/console/fragments/executions")
    assert "No execution yet." in empty.text
    body = {"total_equity": 1000.0, "world_alloc_before": {"a": 0.5},
            "world_alloc_after": {"a": 0.25},
            "positions": [{"world_id": "a", "strategy_id": "s", "symbol": "X", "qty": 5.0,
                           "mark": 100.0}]}
    done = httpx.post(f"{url}/rebalancing/execute", params={"submit": "true"}, json=body,
                      headers={"X-Allow-Live": "true"})
    assert done.status_code == 200, done.text
    listing = httpx.get(f"{url}/console/fragments/executions")
    assert "<table" in listing.text and done.json()["execution_id"] in listing.text
    assert "submitted" in listing.text


def test_websocket_token_in_a_subprotocol(live_server: Callable[..., str]) -> None:
    url = live_server({**QUIET, "security": {"api_tokens": [TOKEN]}})
    ws_url = url.replace("http", "ws") + "/events"
    with connect(ws_url, subprotocols=[EVENTS_SUBPROTOCOL, _bearer_protocol(TOKEN)]) as socket:
        assert socket.subprotocol == EVENTS_SUBPROTOCOL
        assert json.loads(socket.recv(timeout=5))["type"] == "subscribed"
    with pytest.raises(InvalidStatus) as refused:
        connect(ws_url, subprotocols=[EVENTS_SUBPROTOCOL, _bearer_protocol("wrong")])
    assert refused.value.response.status_code == 401


def test_token_from_subprotocol() -> None:
    assert token_from_subprotocol(_bearer_protocol("s3cret/+")) == "s3cret/+"
    assert token_from_subprotocol("worldgate.events") is None
    assert token_from_subprotocol("worldgate.bearer.!!!") is None
    assert token_from_subprotocol("worldgate.bearer.") is None


def test_paging_reads_next_cursor() -> None:
    page = page_of({"plans": [{"run_id": "a"}, 3], "next": "c2"}, "plans")
    assert [p["run_id"] for p in page.items] == ["a"] and page.next == "c2"
    assert page_of({"plans": []}, "plans").next is None
    assert page_params("c2", 5, filters={"world_id": None}) == {"limit": "5", "cursor": "c2"}


def test_build_request_and_weights() -> None:
    body = build_request({"positions": POSITIONS, "targets": "a=0.2,b=0.5", "policy": "{}"})
    assert body["total_equity"] == 300.0 and body["policy"] == {}
    assert body["world_alloc_before"] == pytest.approx({"a": 2 / 3, "b": 1 / 3})
    plan = {"per_world": {"a": {"deltas": [{"symbol": "BTC", "venue": "x", "delta_qty": -1}]}}}
    weights = weights_from_request(body, plan)
    assert weights["a"] == pytest.approx((2 / 3, 1 / 3, 0.2))
    assert weights["b"] == pytest.approx((1 / 3, 1 / 3, 0.5))
    whole = build_request({"request": json.dumps({"total_equity": 1, "positions": []})})
    assert whole == {"total_equity": 1, "positions": []}
    for bad in ({"positions": "", "targets": "a=1"}, {"positions": POSITIONS, "targets": ""},
                {"positions": "world_id,symbol\nx,y", "targets": "a=1"},
                {"request": "[1]"}, {"positions": POSITIONS, "targets": "a=1", "policy": "{"}):
        with pytest.raises(InputError):
            build_request(bad)


def test_rollout_checklist_targets_the_configured_version(
    live_server: Callable[..., str],
) -> None:
    v3 = {
        **QUIET,
        "worldservice": {"server": {"compat_rebalance_v2": True, "compat_rebalance_v3": True}},
        "gateway": {"rebalance_schema_version": 3, "alpha_metrics_capable": True},
    }
    answer = httpx.post(f"{live_server(v3)}/console/fragments/rollout", json={}, headers=HX,
                        timeout=60.0)
    assert answer.status_code == 200
    assert "Schema v3 rollout" in answer.text and "READY" in answer.text
    assert "NOT READY" not in answer.text, answer.text
