"""The audit log: every mutating and every refused call of a run, in order, with who, what
and how it ended, and never a secret or a body; paging, filters, the ``audit`` topic."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import structlog
from dependency_injector import providers
from litestar.testing import TestClient

from app.contracts.audit import AuditRecord
from app.contracts.events import CloudEvent
from app.contracts.pages import encode_cursor
from app.store.adapters.sqlite import SqliteStore
from tests.backends import backend_client  # noqa: F401 - fixture
from tests.web.keys_support import (
    ROOT_SECRET,
    auth,
    execute_body,
    make_key,
    plan_body,
    root_settings,
)

Client = TestClient[Any]
LIVE = {"X-Allow-Live": "true"}
BODY_MARKER = "BODYMARKER7Q"  # in symbols and intent metadata: must never reach the log
WRONG_SECRET = "wrong-secret-never-to-be-logged-91"


def read_all(client: Client, page: int = 3, **filters: str) -> list[dict[str, Any]]:
    """Every audit record, following ``next`` with small pages."""
    entries: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params = {"limit": str(page), **filters, **({"cursor": cursor} if cursor else {})}
        answer = client.get("/audit", params=params, headers=auth(ROOT_SECRET))
        assert answer.status_code == 200, answer.text
        body = answer.json()
        entries += body["entries"]
        cursor = body["next"]
        if cursor is None:
            return entries


def stored_text(db: Path) -> str:
    """Every audit row and every audit event of the store, as text."""
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT * FROM audit_log").fetchall()
        events = conn.execute("SELECT body FROM events WHERE topic = 'audit'").fetchall()
    finally:
        conn.close()
    return repr(rows) + "".join(bytes(b).decode() for (b,) in events)


def test_every_mutating_and_refused_call_is_recorded_in_order_without_secrets(
    make_client: Callable[..., Client], tmp_path: Path
) -> None:
    client = make_client(root_settings())
    with structlog.testing.capture_logs() as logs:
        made: list[tuple[str, str, int]] = []  # (method, route template, status), in order

        def call(method: str, path: str, route: str, secret: str | None, **kw: Any) -> Any:
            """Make a call that must be on record."""
            headers = {**kw.pop("headers", {}), **(auth(secret) if secret else {})}
            answer = client.request(method, path, headers=headers, **kw)
            made.append((method, route, answer.status_code))
            return answer

        created = call("POST", "/keys", "/keys", ROOT_SECRET,
                       json={"name": "trader", "scopes": ["read", "plan", "apply", "execute",
                                                          "submit", "risk"]})
        trader_id, trader = created.json()["key"]["id"], created.json()["secret"]
        body = {**plan_body(BODY_MARKER), "rebalance_intent": {"meta": {"note": BODY_MARKER}}}
        # Neither a read nor a plan changes anything: not on record.
        assert client.post("/rebalancing/plan", json=body, headers=auth(trader)).is_success
        applied = call("POST", "/rebalancing/apply", "/rebalancing/apply", trader,
                       json={**body, "run_id": "run-audit-1"})
        assert client.get("/risk/state", headers=auth(trader)).is_success
        previewed = call("POST", "/rebalancing/execute", "/rebalancing/execute", trader,
                         json=execute_body(BODY_MARKER))
        execution_id, etag = previewed.json()["execution_id"], previewed.json()["etag"]
        call("POST", f"/rebalancing/executions/{execution_id}/submit",
             "/rebalancing/executions/{execution_id}/submit", trader,
             headers={**LIVE, "If-Match": f'"{etag}"'})
        call("PUT", "/risk/worlds/w1", "/risk/worlds/{world_id}", trader,
             json={"state": "HALTED", "reason": "halt drill before the audit"})
        call("POST", "/rebalancing/apply", "/rebalancing/apply", WRONG_SECRET, json=body)
        call("GET", "/risk/state", "/risk/state", None)  # no key: refused, so recorded
        call("POST", "/keys", "/keys", trader, json={"name": "sneaky", "scopes": ["admin"]})
        call("POST", f"/keys/{trader_id}/revoke", "/keys/{key_id}/revoke", ROOT_SECRET,
             json={"reason": "rotation"})
        call("PUT", "/risk/state", "/risk/state", trader,
             json={"state": "ACTIVE", "reason": "after revocation"})

    entries = read_all(client)
    # GET /audit itself needs `admin`, so each page read is on record too: set them aside.
    calls = [e for e in entries if e["route"] != "/audit"]
    assert [(e["method"], e["route"], e["status"]) for e in calls] == made
    seqs = [e["seq"] for e in entries]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)

    by_route = {(e["method"], e["route"]): e for e in calls}
    assert applied.status_code == 200
    apply_entry = calls[1]
    assert apply_entry["run_id"] == "run-audit-1" and apply_entry["key_id"] == trader_id
    assert apply_entry["key_name"] == "trader" and apply_entry["outcome"] == "ok"
    assert calls[2]["execution_id"] == execution_id  # the preview's id, chosen by the server
    submit_entry = by_route[("POST", "/rebalancing/executions/{execution_id}/submit")]
    assert submit_entry["execution_id"] == execution_id and submit_entry["status"] == 200
    halt = by_route[("PUT", "/risk/worlds/{world_id}")]
    assert halt["reason"] == "halt drill before the audit" and halt["world_id"] == "w1"
    wrong, anonymous, sneaky = calls[5], calls[6], calls[7]
    assert (wrong["status"], wrong["outcome"], wrong["key_id"]) == (401, "denied", None)
    assert wrong["reason"] == "unknown_key" and wrong["code"] == "E_UNAUTHORIZED"
    assert anonymous["reason"] == "missing" and anonymous["method"] == "GET"
    assert (sneaky["status"], sneaky["key_id"]) == (403, trader_id)
    assert sneaky["reason"] == "missing_scope:admin" and sneaky["code"] == "E_FORBIDDEN_SCOPE"
    revoke = calls[8]
    assert revoke["reason"] == f"revoked {trader_id} (trader): rotation"
    after = calls[9]
    assert (after["status"], after["reason"], after["key_id"]) == (401, "key_revoked", trader_id)
    assert all(e["time"] and e["request_id"] and e["client"] for e in calls)

    # Nothing secret and no body anywhere: the answer, the stored rows, the events, the logs.
    audit_text = repr(entries) + stored_text(tmp_path / "worldgate.sqlite3")  # make_settings'
    everywhere = audit_text + repr(logs)
    for secret in (ROOT_SECRET, trader, WRONG_SECRET):
        assert secret not in everywhere
    assert BODY_MARKER not in everywhere
    assert "positions" not in audit_text and "total_equity" not in audit_text


def test_filters_and_cursor(make_client: Callable[..., Client]) -> None:
    client = make_client(root_settings())
    key_id, secret = make_key(client, "applier", ["apply", "read"])
    for i in range(3):
        answer = client.post("/rebalancing/apply", json={**plan_body(), "run_id": f"f-{i}"},
                             headers=auth(secret))
        assert answer.status_code == 200
    client.put("/risk/state", json={"state": "ACTIVE", "reason": "x"}, headers=auth(secret))
    mine = read_all(client, key=key_id)
    assert [e["route"] for e in mine] == ["/rebalancing/apply"] * 3 + ["/risk/state"]
    assert [e["outcome"] for e in mine] == ["ok", "ok", "ok", "denied"]
    assert [e["run_id"] for e in mine[:3]] == ["f-0", "f-1", "f-2"]
    assert len(read_all(client, route="/risk/state", outcome="denied")) == 1
    assert read_all(client, since="2999-01-01T00:00:00Z") == []
    assert len(read_all(client, since="0", key=key_id)) == 4
    for bad in ({"cursor": "bm9wZQ"}, {"cursor": "!!"}, {"since": "yesterday"},
                {"outcome": "maybe"}, {"limit": "0"}, {"cursor": encode_cursor("plans", 1)},
                {"cursor": encode_cursor("audit", "²")},
                {"cursor": encode_cursor("audit", "9" * 19)}):
        answer = client.get("/audit", params=bad, headers=auth(ROOT_SECRET))
        assert answer.status_code in (400, 422), (bad, answer.text)
        assert answer.json()["code"] == "E_VALIDATION"


def test_audit_events_reach_admin_subscribers(make_client: Callable[..., Client]) -> None:
    client = make_client(root_settings())
    _, watcher = make_key(client, "auditor", ["read", "admin"])
    _, desk = make_key(client, "risk-desk", ["risk"])
    with client.websocket_connect("/events?topics=audit", headers=auth(watcher)) as ws:
        assert ws.receive_json()["type"] == "subscribed"
        client.put("/risk/state", json={"state": "ACTIVE", "reason": "live"}, headers=auth(desk))
        event = ws.receive_json(timeout=10)
        while event["data"]["route"] != "/risk/state":  # earlier admin calls first
            event = ws.receive_json(timeout=10)
    assert event["type"] == "audit_recorded" and event["data"]["key_name"] == "risk-desk"
    assert event["data"]["reason"] == "live"
    assert event["seq"] and event["source"] == "worldgate/security"
    (stored,) = [e for e in read_all(client) if e["id"] == event["id"]]
    assert stored["route"] == "/risk/state"


class AuditFailingStore(SqliteStore):
    """A real SQLite store whose audit writes fail (a full disk, say)."""

    async def append_audit(self, records: Sequence[AuditRecord],
                           events: Sequence[CloudEvent]) -> None:
        raise sqlite3.OperationalError("disk I/O error")


@pytest.mark.anyio
async def test_an_audit_failure_is_logged_and_counted_and_the_answer_still_goes(
    tmp_path: Path,
) -> None:
    from tests.worldservice.records_support import running_app

    failing = AuditFailingStore(tmp_path / "audit-fails.sqlite3")

    def hook(container: Any) -> None:
        container.store.override(providers.Object(failing))

    with structlog.testing.capture_logs() as logs:
        async with running_app(tmp_path, container_hook=hook) as (client, container):
            answer = await client.post("/worldservice/rebalancing/apply", json=plan_body())
            metrics = container.metrics().render().decode()
    assert answer.status_code == 200
    assert any(e["event"] == "audit_write_failed" for e in logs)
    assert "worldgate_audit_write_failures_total 1.0" in metrics


def test_control_characters_are_recorded_on_every_backend(
    backend_client: Callable[..., Client],  # noqa: F811 - the imported fixture
) -> None:
    # PostgreSQL refuses NUL in text: unescaped, these calls would go unrecorded there.
    client = backend_client(root_settings())
    key_id, secret = make_key(client, "reader", ["read"])
    denied = client.put("/risk/worlds/w%00x", json={"state": "HALTED", "reason": "r"},
                        headers=auth(secret))
    assert denied.status_code == 403
    revoked = client.post(f"/keys/{key_id}/revoke", json={"reason": "left\x00\x1b[31m"},
                          headers=auth(ROOT_SECRET))
    assert revoked.status_code == 200, revoked.text
    entries = read_all(client, page=100)
    refused = [e for e in entries if e["outcome"] == "denied"]
    assert [e["path"] for e in refused] == ["/risk/worlds/w%00x"]
    revocation = [e for e in entries if e["route"] == "/keys/{key_id}/revoke"]
    assert [e["reason"] for e in revocation] == [f"revoked {key_id} (reader): left%00%1B[31m"]
