"""The execute answer and its batches in QMTL's shapes (in-process WorldService)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from app.settings import Settings
from tests.gateway.factories import request_body

LIVE = {"X-Allow-Live": "true"}


def orders_events(settings: Settings) -> list[dict[str, Any]]:
    """The ``data`` of every recorded ``rebalancing_orders`` event, in order."""
    with sqlite3.connect(settings.store.sqlite_path) as conn:
        rows = conn.execute("SELECT topic, body FROM events ORDER BY seq").fetchall()
    conn.close()
    return [msgspec.json.decode(bytes(b))["data"] for t, b in rows if t == "rebalancing_orders"]


def flip_body() -> dict[str, Any]:
    """World a: s1 holds +10 X, s2 −5 X; s1 goes to zero, so the world's net flips."""
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


def test_reduce_only_is_present_only_when_true(client: TestClient[Any]) -> None:
    close, open_ = client.post("/rebalancing/execute", json=flip_body()).json()[
        "orders_per_world"
    ]["a"]
    assert close["reduce_only"] is True
    assert "reduce_only" not in open_  # QMTL omits the flag rather than sending false


def test_per_strategy_answer_lists_orders_per_strategy(client: TestClient[Any]) -> None:
    body = request_body(strategy_alloc_after_total={"a": {"s1": 0.005, "s2": 0.005}})
    answer = client.post("/rebalancing/execute?per_strategy=true", json=body).json()
    assert answer["scope"] == "per_strategy"
    entries = answer["orders_per_strategy"]
    assert [set(e) for e in entries] == [{"world_id", "strategy_id", "order"}] * len(entries)
    flat = [o for orders in answer["orders_per_world"].values() for o in orders]
    assert [e["order"] for e in entries] == flat  # the same orders, beside orders_per_world
    assert {(e["world_id"], e["strategy_id"]) for e in entries} == {("a", "s1"), ("a", "s2")}


def test_per_strategy_submit_publishes_only_per_strategy_batches(
    make_client: Callable[..., TestClient[Any]], make_settings: Callable[..., Settings]
) -> None:
    c = make_client()
    body = request_body(world_alloc_after={"a": 0.25, "b": 0.25})
    response = c.post("/rebalancing/execute?per_strategy=true&submit=true", json=body, headers=LIVE)
    assert response.status_code == 200, response.text
    answer = response.json()
    events = orders_events(make_settings())
    assert {e["scope"] for e in events} == {"per_strategy"}
    assert {b["scope"] for b in answer["batches"]} == {"per_strategy"}
    published = [
        (e["world_id"], o["strategy_id"], o["symbol"]) for e in events for o in e["orders"]
    ]
    listed = [(e["world_id"], e["strategy_id"], e["order"]["symbol"])
              for e in answer["orders_per_strategy"]]
    assert sorted(published) == sorted(listed)  # each order submitted exactly once
    assert len(published) == len(set(published)) == 3


def test_shared_account_batch_is_global_and_flagged(
    make_client: Callable[..., TestClient[Any]], make_settings: Callable[..., Settings]
) -> None:
    c = make_client({"gateway": {"shared_account_policy": {"enabled": True}}})
    response = c.post("/rebalancing/execute?shared_account=true&submit=true",
                      json=request_body(), headers=LIVE)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["shared_account"] is True
    figures = answer["shared_account_figures"]
    assert figures["current_net_notional"] == pytest.approx(2000.0)  # 2000 − 1000 + 1000
    assert figures["projected_net_notional"] == pytest.approx(1500.0)  # sell 1000, buy 500
    assert figures["margin_headroom"] == pytest.approx(1 - 1500.0 / 100_000.0)
    assert [b["world_id"] for b in answer["batches"]] == ["global"]
    (event,) = orders_events(make_settings())
    assert (event["world_id"], event["scope"], event["shared_account"]) == (
        "global", "global", True
    )
    assert event["shared_account_figures"] == figures


def leveraged(after: float) -> dict[str, Any]:
    """One world holding 2000 notional of X on 1000 equity (no headroom left)."""
    return {
        "total_equity": 1000.0,
        "world_alloc_before": {"a": 0.5},
        "world_alloc_after": {"a": after},
        "positions": [
            {"world_id": "a", "strategy_id": "s", "symbol": "X", "qty": 200.0, "mark": 10.0}
        ],
    }


def test_headroom_is_judged_on_projected_exposure(
    make_client: Callable[..., TestClient[Any]],
) -> None:
    policy = {"enabled": True, "min_margin_headroom": 0.5}
    c = make_client({"gateway": {"shared_account_policy": policy}})
    unwind = c.post("/rebalancing/execute?shared_account=true", json=leveraged(0.35))
    assert unwind.status_code == 200, unwind.text  # sells 600: exposure 2000 → 1400
    figures = unwind.json()["shared_account_figures"]
    assert figures["projected_net_notional"] == pytest.approx(1400.0)
    assert figures["margin_headroom"] == 0.0  # still below the minimum, but reducing
    grow = c.post("/rebalancing/execute?shared_account=true", json=leveraged(0.6))
    assert grow.status_code == 422
    error = grow.json()
    assert error["code"] == "E_SHARED_ACCOUNT_POLICY"
    assert [b["limit"] for b in error["breaches"]] == ["min_margin_headroom"]
    assert error["figures"]["projected_net_notional"] == pytest.approx(2400.0)


def test_scaling_answer_has_no_overlay_deltas(client: TestClient[Any]) -> None:
    answer = client.post("/rebalancing/execute", json=request_body()).json()
    assert "overlay_deltas" not in answer and "orders_per_strategy" not in answer
    assert "shared_account" not in answer


def test_hybrid_answer_echoes_overlay_deltas(client: TestClient[Any]) -> None:
    body = request_body(mode="hybrid")
    body["overlay"] = {
        "instrument_by_world": {"a": "ES", "b": "NQ"},
        "price_by_symbol": {"ES": 100.0, "NQ": 200.0},
        "overlay_fraction": 0.5,
    }
    plan = client.post("/rebalancing/plan", json=body).json()
    answer = client.post("/rebalancing/execute", json=body).json()
    assert answer["overlay_deltas"] == plan["overlay_deltas"] != []
