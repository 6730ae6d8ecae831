"""``POST /rebalancing/execute`` through HTTP with the in-process WorldService."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from app.settings import Settings, merge_tables
from tests.gateway.factories import request_body

V2 = {
    "worldservice": {"server": {"compat_rebalance_v2": True}},
    "gateway": {"rebalance_schema_version": 2, "alpha_metrics_capable": True},
}
LIVE = {"X-Allow-Live": "true"}


def orders(answer: dict[str, Any], world: str) -> list[tuple[str, float, bool | None]]:
    return [
        (o["symbol"], o["quantity"], o.get("reduce_only"))
        for o in answer["orders_per_world"][world]
    ]


def test_v1_answer_orders_and_bits(client: TestClient[Any]) -> None:
    response = client.post("/rebalancing/execute", json=request_body())
    assert response.status_code == 200, response.text
    answer = response.json()
    # World a halves: sell 1 of 2 BTC (reduces a long), buy 5 of -10 ETH (reduces a short).
    assert sorted(orders(answer, "a")) == [("BTC", -1.0, True), ("ETH", 5.0, True)]
    assert "b" not in answer["orders_per_world"]  # unchanged world: no orders
    assert answer["rebalance_schema_version"] == 1
    assert answer["alpha_metrics_capable"] is False
    assert answer["submitted"] is False and "batches" not in answer
    # A dry run is a stored preview (SPEC §13): its id, etag and expiry, nothing denied.
    assert answer["state"] == "previewed" and answer["execution_id"] and answer["etag"]
    assert answer["status"] == "completed" and answer["denied"] == []
    sides = {o["symbol"]: o["side"] for o in answer["orders_per_world"]["a"]}
    assert sides == {"BTC": "sell", "ETH": "buy"}


def test_v2_answer_is_alpha_capable(v2_client: TestClient[Any]) -> None:
    answer = v2_client.post("/rebalancing/execute", json=request_body()).json()
    assert answer["rebalance_schema_version"] == 2
    assert answer["alpha_metrics_capable"] is True
    assert answer["alpha_metrics"]["per_world"]["a"]["alpha_performance.sharpe"] != 0.0


@pytest.mark.parametrize(
    ("overrides", "expected_version"),
    [
        # WorldService v2, Gateway v2 but not alpha-capable: the bit stays off.
        (merge_tables(V2, {"gateway": {"alpha_metrics_capable": False}}), 2),
        # Gateway alpha-capable but WorldService only serves v1: negotiated 1.
        (merge_tables(V2, {"worldservice": {"server": {"compat_rebalance_v2": False}}}), 1),
        # Gateway configured v1.
        (merge_tables(V2, {"gateway": {"rebalance_schema_version": 1}}), 1),
    ],
)
def test_alpha_capable_needs_bit_version_and_metrics(
    make_client: Callable[..., TestClient[Any]], overrides: dict[str, Any], expected_version: int
) -> None:
    answer = make_client(overrides).post("/rebalancing/execute", json=request_body()).json()
    assert answer["rebalance_schema_version"] == expected_version
    assert answer["alpha_metrics_capable"] is False
    assert "alpha_metrics" not in answer


def flip_body() -> dict[str, Any]:
    # In world a, s1 holds +10 X and s2 −5 X (net +5); s1 goes to zero: the net goes to −5.
    return {
        "total_equity": 1000.0,
        "world_alloc_before": {"a": 0.5},
        "world_alloc_after": {"a": 0.5},
        "strategy_alloc_before_total": {"a": {"s1": 0.1, "s2": 0.05}},
        "strategy_alloc_after_total": {"a": {"s1": 0.0, "s2": 0.05}},
        "positions": [
            {"world_id": "a", "strategy_id": "s1", "symbol": "X", "qty": 10.0, "mark": 10.0},
            {"world_id": "a", "strategy_id": "s2", "symbol": "X", "qty": -5.0, "mark": 10.0},
        ],
    }


def test_a_flip_is_closed_then_opened(client: TestClient[Any]) -> None:
    answer = client.post("/rebalancing/execute", json=flip_body()).json()
    assert orders(answer, "a") == [("X", -5.0, True), ("X", -5.0, None)]  # None: omitted


def test_direct_flip_policy(make_client: Callable[..., TestClient[Any]]) -> None:
    c = make_client({"gateway": {"flip_policy": "direct"}})
    answer = c.post("/rebalancing/execute", json=flip_body()).json()
    assert orders(answer, "a") == [("X", -10.0, None)]


def test_per_strategy_orders_carry_their_strategy(client: TestClient[Any]) -> None:
    answer = client.post("/rebalancing/execute?per_strategy=true", json=flip_body()).json()
    got = [
        (o["strategy_id"], o["quantity"], o["reduce_only"]) for o in answer["orders_per_world"]["a"]
    ]
    assert got == [("s1", -10.0, True)]  # s2 is unchanged; s1 sells its own long down to 0
    assert answer["scope"] == "per_strategy"


def test_constraint_drops_are_reported(make_client: Callable[..., TestClient[Any]]) -> None:
    c = make_client({"gateway": {"instrument_constraints": [{"symbol": "BTC", "lot_size": 5.0}]}})
    answer = c.post("/rebalancing/execute", json=request_body()).json()
    assert [(d["symbol"], d["reason"]) for d in answer["dropped"]] == [("BTC", "lot_size")]
    assert orders(answer, "a") == [("ETH", 5.0, True)]


def test_shared_account_disabled(client: TestClient[Any]) -> None:
    response = client.post("/rebalancing/execute?shared_account=true", json=request_body())
    assert response.status_code == 403
    assert response.json()["code"] == "E_SHARED_ACCOUNT_DISABLED"


def test_shared_account_allowed_nets_across_worlds(
    make_client: Callable[..., TestClient[Any]],
) -> None:
    c = make_client({"gateway": {"shared_account_policy": {"enabled": True}}})
    answer = c.post("/rebalancing/execute?shared_account=true", json=request_body()).json()
    got = sorted((o["symbol"], o["quantity"], o["reduce_only"]) for o in answer["orders_global"])
    assert got == [("BTC", -1.0, True), ("ETH", 5.0, True)]  # net BTC held: 3 (a: 2, b: 1)
    assert answer["scope"] == "global"
    assert answer["shared_account"] is True  # QMTL's flag; the figures have their own field
    assert answer["shared_account_figures"]["gross_notional"] == pytest.approx(1500.0)


def test_shared_account_policy_breach_reports_figures(
    make_client: Callable[..., TestClient[Any]],
) -> None:
    policy = {"enabled": True, "max_gross_notional": 1000.0, "min_margin_headroom": 0.5}
    c = make_client({"gateway": {"shared_account_policy": policy}})
    response = c.post("/rebalancing/execute?shared_account=true", json=request_body())
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "E_SHARED_ACCOUNT_POLICY"
    assert body["figures"]["gross_notional"] == pytest.approx(1500.0)
    assert [b["limit"] for b in body["breaches"]] == ["max_gross_notional"]
    assert body["limits"]["max_gross_notional"] == 1000.0


def test_worldservice_errors_arrive_unchanged(client: TestClient[Any]) -> None:
    response = client.post("/rebalancing/execute", json=request_body(mode="sideways"))
    assert response.status_code == 422
    assert response.json()["code"] == "E_VALIDATION"


def test_live_guard(client: TestClient[Any]) -> None:
    for headers in ({}, {"X-Allow-Live": "false"}):
        response = client.post(
            "/rebalancing/execute?submit=true", json=request_body(), headers=headers
        )
        assert response.status_code == 403
        assert response.json()["code"] == "E_PERMISSION_DENIED"
    # A dry run needs no header.
    assert client.post("/rebalancing/execute", json=request_body()).status_code == 200


def test_live_guard_off(make_client: Callable[..., TestClient[Any]]) -> None:
    c = make_client({"gateway": {"enforce_live_guard": False}})
    response = c.post("/rebalancing/execute?submit=true", json=request_body())
    assert response.status_code == 200 and response.json()["submitted"] is True


def events_in(path: Path) -> list[tuple[str, bytes]]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT topic, body FROM events ORDER BY seq").fetchall()
    conn.close()
    return [(r[0], bytes(r[1])) for r in rows]


def test_submit_records_all_batches_and_reads_back(
    make_client: Callable[..., TestClient[Any]], make_settings: Callable[..., Settings]
) -> None:
    c = make_client()
    body = request_body(world_alloc_after={"a": 0.25, "b": 0.25})
    response = c.post("/rebalancing/execute?submit=true", json=body, headers=LIVE)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["submitted"] is True and answer["execution_id"]
    assert sorted(b["world_id"] for b in answer["batches"]) == ["a", "b"]
    path = Path(make_settings().store.sqlite_path)
    events = [msgspec.json.decode(b) for t, b in events_in(path) if t == "rebalancing_orders"]
    assert len(events) == 2
    data = {e["data"]["world_id"]: e["data"] for e in events}
    assert data["a"]["execution_id"] == answer["execution_id"]
    assert data["a"]["scope"] == "per_world"
    assert data["a"]["counts"] == {"total": 2, "reduce_only": 2}
    assert data["a"]["reduce_only_ratio"] == 1.0
    assert data["b"]["orders"] == [
        {
            "symbol": "BTC",
            "quantity": -0.5,
            "side": "sell",
            "time_in_force": "GTC",
            "reduce_only": True,
        }
    ]
    read = c.get(f"/rebalancing/executions/{answer['execution_id']}")
    assert read.status_code == 200 and read.json() == answer
    missing = c.get("/rebalancing/executions/nope")
    assert missing.status_code == 404


def test_store_failure_is_503_and_nothing_is_recorded(
    make_client: Callable[..., TestClient[Any]], make_settings: Callable[..., Settings]
) -> None:
    c = make_client()
    path = Path(make_settings().store.sqlite_path)
    with sqlite3.connect(path) as conn:  # the disk "fills up" when events are written
        conn.execute(
            "CREATE TRIGGER fail_events BEFORE INSERT ON events "
            "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
        )
    conn.close()
    response = c.post("/rebalancing/execute?submit=true", json=request_body(), headers=LIVE)
    assert response.status_code == 503
    with sqlite3.connect(path) as conn:
        executions = conn.execute("SELECT COUNT(*) FROM executions").fetchone()[0]
    conn.close()
    assert executions == 0  # the execution row was rolled back with its events
    assert [t for t, _ in events_in(path) if t == "rebalancing_orders"] == []


def test_allocations_with_execute_use_the_gateway_path(
    make_client: Callable[..., TestClient[Any]], make_settings: Callable[..., Settings]
) -> None:
    c = make_client()
    body = request_body()
    alloc = {
        "total_equity": body["total_equity"],
        "positions": body["positions"],
        "world_allocations": {"a": 0.5, "b": 0.5},
    }
    first = c.post("/worldservice/allocations", json={**alloc, "run_id": "r1"})
    assert first.status_code == 200, first.text
    second = c.post(
        "/worldservice/allocations",
        json={**alloc, "run_id": "r2", "world_allocations": {"a": 0.25, "b": 0.5}, "execute": True},
    )
    assert second.status_code == 200, second.text
    assert second.json()["executed"] is True
    path = Path(make_settings().store.sqlite_path)
    events = [msgspec.json.decode(b) for t, b in events_in(path) if t == "rebalancing_orders"]
    assert [e["data"]["world_id"] for e in events] == ["a"]
    assert {o["symbol"] for o in events[0]["data"]["orders"]} == {"BTC", "ETH"}


def test_apply_through_the_in_process_gateway(v2_client: TestClient[Any]) -> None:
    response = v2_client.post("/rebalancing/apply", json=request_body(run_id="in-proc-1"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["run_id"], body["schema_version"]) == ("in-proc-1", 2)
    conflict = v2_client.post(
        "/rebalancing/apply", json=request_body(run_id="in-proc-1", total_equity=5.0)
    )
    assert conflict.status_code == 409
    assert conflict.json()["code"] == "E_RUN_ID_CONFLICT"


def overlay_body(instruments: dict[str, str], mode: str = "overlay") -> dict[str, Any]:
    body = request_body(mode=mode)
    body["overlay"] = {
        "instrument_by_world": instruments,
        "price_by_symbol": {"ES": 100.0, "NQ": 200.0},
        "overlay_fraction": 0.5,
    }
    return body


def test_overlay_orders_are_mapped_to_their_world(client: TestClient[Any]) -> None:
    response = client.post("/rebalancing/execute", json=overlay_body({"a": "ES", "b": "NQ"}))
    assert response.status_code == 200, response.text
    answer = response.json()
    # World a: N = 2·1000 − 10·100 = 1000, halved → sell 500 notional of ES at 100.
    assert orders(answer, "a") == [("ES", -5.0, None)]
    hybrid = client.post(
        "/rebalancing/execute", json=overlay_body({"a": "ES", "b": "NQ"}, mode="hybrid")
    ).json()
    symbols = sorted(o["symbol"] for o in hybrid["orders_per_world"]["a"])
    assert symbols == ["BTC", "ES", "ETH"]  # half scaled in place, half through the overlay


def test_overlay_instrument_of_two_worlds_is_ambiguous(client: TestClient[Any]) -> None:
    body = overlay_body({"a": "ES", "b": "ES"})
    body["world_alloc_after"] = {"a": 0.25, "b": 0.25}
    response = client.post("/rebalancing/execute", json=body)
    assert response.status_code == 422
    assert response.json()["code"] == "E_OVERLAY_EXECUTION_AMBIGUOUS"
