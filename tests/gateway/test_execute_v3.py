"""Execute with a v3 plan: the policy's deltas become orders, sells first with a cash policy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from litestar.testing import TestClient

V3 = {
    "worldservice": {"server": {"compat_rebalance_v2": True, "compat_rebalance_v3": True}},
    "gateway": {"rebalance_schema_version": 3, "alpha_metrics_capable": True,
                "enforce_live_guard": False},
}


def body(policy: dict[str, Any] | None = None) -> dict[str, Any]:
    """One world buying A and C and selling B (in symbol order: buy, sell, buy)."""
    out: dict[str, Any] = {
        "total_equity": 10_000.0,
        "world_alloc_before": {"w": 0.5},
        "world_alloc_after": {"w": 0.5},
        "strategy_alloc_before_total": {"w": {"up": 0.2, "down": 0.2}},
        "strategy_alloc_after_total": {"w": {"up": 0.3, "down": 0.1}},
        "positions": [
            {"world_id": "w", "strategy_id": "up", "symbol": "A", "qty": 10.0, "mark": 100.0},
            {"world_id": "w", "strategy_id": "down", "symbol": "B", "qty": 20.0, "mark": 100.0},
            {"world_id": "w", "strategy_id": "up", "symbol": "C", "qty": 10.0, "mark": 100.0},
        ],
        "lot_size_by_symbol": {"A": 0.5, "B": 0.5, "C": 0.5},
    }
    if policy is not None:
        out["policy"] = policy
    return out


def sides(answer: dict[str, Any]) -> list[tuple[str, str, float]]:
    return [(o["symbol"], o["side"], o["quantity"]) for o in answer["orders_per_world"]["w"]]


@pytest.fixture
def app(make_client: Callable[..., TestClient[Any]]) -> TestClient[Any]:
    return make_client(V3)


def test_without_cash_orders_keep_the_plan_order(app: TestClient[Any]) -> None:
    answer = app.post("/rebalancing/execute", json=body({"band": {"abs": 0.0}})).json()
    assert answer["rebalance_schema_version"] == 3
    assert sides(answer) == [("A", "buy", 5.0), ("B", "sell", -10.0), ("C", "buy", 5.0)]


def test_with_a_cash_policy_every_batch_lists_sells_first(app: TestClient[Any]) -> None:
    policy = {"cash": {"available": 0.0}}
    answer = app.post("/rebalancing/execute?submit=true", json=body(policy))
    assert answer.status_code == 200, answer.text
    got = answer.json()
    # The sell of B (1000) funds the buys exactly: nothing is cut.
    assert sides(got) == [("B", "sell", -10.0), ("A", "buy", 5.0), ("C", "buy", 5.0)]
    stored = app.get(f"/rebalancing/executions/{got['execution_id']}").json()
    assert sides(stored) == sides(got)


def test_a_previewed_v3_execution_submits_its_sells_first(app: TestClient[Any]) -> None:
    previewed = app.post("/rebalancing/execute", json=body({"cash": {"available": 0.0}}))
    answer = previewed.json()
    assert answer["state"] == "previewed" and answer["rebalance_schema_version"] == 3
    submitted = app.post(
        f"/rebalancing/executions/{answer['execution_id']}/submit",
        headers={"If-Match": f'"{answer["etag"]}"'},
    )
    assert submitted.status_code == 200, submitted.text
    assert sides(submitted.json()) == sides(answer) == [
        ("B", "sell", -10.0), ("A", "buy", 5.0), ("C", "buy", 5.0)]


def test_a_short_budget_shrinks_the_buys(app: TestClient[Any]) -> None:
    policy = {"cash": {"available": 0.0, "buffer": 0.05}}  # 500 kept back
    answer = app.post("/rebalancing/execute", json=body(policy)).json()
    assert sides(answer) == [("B", "sell", -10.0), ("A", "buy", 2.5), ("C", "buy", 2.5)]


def test_per_strategy_execution_refuses_a_policy(app: TestClient[Any]) -> None:
    answer = app.post("/rebalancing/execute?per_strategy=true", json=body({"band": {}}))
    assert answer.status_code == 422
    error = answer.json()
    assert error["code"] == "E_VALIDATION"
    assert error["errors"] == [
        {"path": "$.policy", "message": "not allowed with per_strategy=true"}]
