"""Figures too large for floats are a 422 naming the request part, never a silent drop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from app.contracts.policy import RebalancePolicy
from app.contracts.rebalancing import PositionSlice, RebalanceRequest
from app.worldservice.planner import PlanOverflowError, compute_plan


def _pos(qty: float, mark: float, world: str = "w", symbol: str = "X") -> dict[str, Any]:
    return {"world_id": world, "strategy_id": "s", "symbol": symbol, "qty": qty, "mark": mark}


def _body(*positions: dict[str, Any], **changes: Any) -> dict[str, Any]:
    worlds = sorted({p["world_id"] for p in positions})
    return {
        "total_equity": 1e9,
        "world_alloc_before": dict.fromkeys(worlds, 1.0),
        "world_alloc_after": dict.fromkeys(worlds, 0.5),
        "positions": list(positions),
        **changes,
    }


CASES: list[tuple[str, dict[str, Any], set[str]]] = [
    # qty × mark = 1e309: the issue's case (was answered 200 with no deltas).
    ("qty times mark", _body(_pos(1.0, 1.0), _pos(1e306, 1000.0)), {"$.positions[1]"}),
    # Each notional is finite; their sum in one key is not.
    ("netted sum", _body(_pos(1e308, 1.5), _pos(1e308, 1.5)),
     {"$.positions[0]", "$.positions[1]"}),
    # The change (1e10) is finite; the quantity (the change over a 1e-300 mark) is not.
    ("delta quantity", _body(_pos(1.0, 1.0), _pos(1e300, 1e-300, symbol="Y"),
                             world_alloc_before={"w": 1e-10}, world_alloc_after={"w": 1.0}),
     {"$.positions[1]"}),
    ("world scale", _body(_pos(1.0, 1.0), world_alloc_before={"w": 1e-320},
                          world_alloc_after={"w": 1.0}), {'$.world_alloc_before["w"]'}),
    ("global sum", _body(_pos(1.7e308, 1.0, world="a"), _pos(1.7e308, 1.0, world="b"),
                         world_alloc_after={"a": 0.0, "b": 0.0}),
     {"$.positions[0]", "$.positions[1]"}),
]


def _request(body: dict[str, Any]) -> RebalanceRequest:
    positions = [PositionSlice(**p) for p in body["positions"]]
    return RebalanceRequest(**{**body, "positions": positions})


@pytest.mark.parametrize(("name", "body", "paths"), CASES, ids=[c[0] for c in CASES])
def test_the_planner_names_the_request_part_that_overflowed(
    name: str, body: dict[str, Any], paths: set[str]
) -> None:
    with pytest.raises(PlanOverflowError) as info:
        compute_plan(_request(body))
    assert set(info.value.paths) == paths


def test_the_issue_case_is_422_at_every_door_and_submits_nothing(
    make_client: Callable[..., TestClient[Any]],
) -> None:
    client = make_client({"gateway": {"enforce_live_guard": False}})
    body = _body(_pos(1e306, 1000.0))
    for path in ("/worldservice/rebalancing/plan", "/rebalancing/plan",
                 "/worldservice/rebalancing/apply", "/rebalancing/apply",
                 "/rebalancing/execute", "/rebalancing/execute?submit=true"):
        response = client.post(path, json={**body, "run_id": "overflow-1"})
        assert response.status_code == 422, (path, response.text)
        answer = response.json()
        assert answer["code"] == "E_VALIDATION"
        assert [e["path"] for e in answer["errors"]] == ["$.positions[0]"]
        assert "$.positions[0]" in answer["detail"] and "not finite" in answer["detail"]
    assert client.get("/worldservice/rebalancing/plans").json()["plans"] == []
    assert client.get("/metrics").text.count('worldgate_executions_total{kind="submitted"}') == 0


def test_large_but_finite_figures_still_plan(
    make_client: Callable[..., TestClient[Any]],
) -> None:
    client = make_client()
    response = client.post("/worldservice/rebalancing/plan", json=_body(_pos(1e300, 1000.0)))
    assert response.status_code == 200, response.text
    assert response.json()["per_world"]["w"]["deltas"][0]["delta_qty"] == -5e299


# Schema v3: the policy's steps and the explanation sections overflow too, and say where.
_CAP = {"max_turnover": 0.5}
V3_CASES: list[tuple[str, dict[str, Any], set[str]]] = [
    # Each key's change (-1.5e308) is finite; the turnover the cap measures is not.
    ("turnover", _body(_pos(1e308, 1.5), _pos(1e308, 1.5, symbol="Y"),
                       world_alloc_after={"w": 0.0}, policy=_CAP),
     {"$.positions[0]", "$.positions[1]"}),
    # Each buy (0.9e308) is finite; the buy notional the cash limit funds is not.
    ("buy notional", _body(_pos(1e308, 0.9), _pos(1e308, 0.9, symbol="Y"),
                           world_alloc_after={"w": 2.0}, policy={"cash": {"available": 1.0}}),
     {"$.positions[0]", "$.positions[1]"}),
    # A dust delta's quantity (its change over a 1e-300 mark) is reported in ``skipped``.
    ("dust quantity", _body(_pos(100.0, 1.0), _pos(1e300, 1e-300, symbol="Y"),
                            world_alloc_before={"w": 1e-10}, world_alloc_after={"w": 1.0},
                            min_trade_notional=1e11, policy={}),
     {"$.positions[1]"}),
    # The band holds back a change (2e308) netting never sums; ``skipped`` reports it.
    ("band held", _body(_pos(1.0, 1.0), _pos(1e308, 1.0, symbol="Y"),
                        world_alloc_after={"w": 3.0}, policy={"band": {"rel": 5.0}}),
     {"$.positions[1]"}),
    # A strategy's net notional (the band's allocation before) is past the float range.
    ("strategy allocation", _body(_pos(1e308, 1.0), _pos(1e308, 1.0, symbol="Y"),
                                  policy={"band": {"abs": 0.01}}),
     {"$.positions[0]", "$.positions[1]"}),
    # The traded notional is fine; its cost at 1e306 bps is not.
    ("projection cost", _body(_pos(1e10, 1.0), policy={"costs": {"default": {"fee_bps": 1e306}}}),
     {"$.policy.costs", "$.positions[0]"}),
]


def _v3_request(body: dict[str, Any]) -> RebalanceRequest:
    policy = msgspec.convert(body.get("policy"), RebalancePolicy | None)
    return _request({**body, "policy": policy, "schema_version": 3})


@pytest.mark.parametrize(("name", "body", "paths"), V3_CASES, ids=[c[0] for c in V3_CASES])
def test_the_v3_planner_names_the_request_part_that_overflowed(
    name: str, body: dict[str, Any], paths: set[str]
) -> None:
    with pytest.raises(PlanOverflowError) as info:
        compute_plan(_v3_request(body), explain=True)
    assert set(info.value.paths) == paths


@pytest.mark.parametrize("name", ["dust quantity", "band held"])
def test_what_only_v3_reports_does_not_stop_a_plan_without_a_policy(name: str) -> None:
    body = next(c[1] for c in V3_CASES if c[0] == name)
    if name == "dust quantity":  # v2 drops the dust key without reporting its quantity
        parts = compute_plan(_request({**body, "policy": None}))
        assert [d.symbol for d in parts.global_deltas] == ["X"]
    else:  # without the band the change trades, and netting names it
        with pytest.raises(PlanOverflowError) as info:
            compute_plan(_request({**body, "policy": None}))
        assert info.value.paths == ["$.positions[1]"]


V3 = {
    "worldservice": {"server": {"compat_rebalance_v2": True, "compat_rebalance_v3": True}},
    "gateway": {"rebalance_schema_version": 3, "enforce_live_guard": False},
}


def test_a_v3_request_with_a_policy_is_422_at_every_door_and_submits_nothing(
    make_client: Callable[..., TestClient[Any]],
) -> None:
    client = make_client(V3)
    cases = [(_body(_pos(1e306, 1000.0), policy={"max_turnover": 0.1, "cash": {"available": 1}}),
              ["$.positions[0]"]),
             (V3_CASES[0][1], ["$.positions[0]", "$.positions[1]"])]
    for n, (body, paths) in enumerate(cases):
        for path in ("/worldservice/rebalancing/plan", "/rebalancing/plan",
                     "/worldservice/rebalancing/apply", "/rebalancing/apply",
                     "/rebalancing/execute", "/rebalancing/execute?submit=true"):
            sent = {**body, "schema_version": 3, "run_id": f"overflow-v3-{n}"}
            response = client.post(path, json=sent)
            assert response.status_code == 422, (path, response.text)
            answer = response.json()
            assert answer["code"] == "E_VALIDATION"
            assert [e["path"] for e in answer["errors"]] == paths
            assert "not finite" in answer["detail"]
    assert client.get("/worldservice/rebalancing/plans").json()["plans"] == []
    assert client.get("/metrics").text.count('worldgate_executions_total{kind="submitted"}') == 0


def test_large_but_finite_figures_still_plan_with_a_policy(
    make_client: Callable[..., TestClient[Any]],
) -> None:
    client = make_client(V3)
    body = _body(_pos(1e300, 1000.0), schema_version=3,
                 policy={"max_turnover": 1.0, "cash": {"available": 0.0}})
    response = client.post("/worldservice/rebalancing/plan", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["schema_version"] == 3
    # A sell: the cap (1e303 of turnover against 1e9 of equity) shrinks it; the
    # sold notional and the projection are recomputed where the product overflowed.
    (delta,) = answer["per_world"]["w"]["deltas"]
    assert delta["delta_qty"] < 0.0 and abs(delta["delta_qty"]) < 5e299
    assert answer["funding"]["sells"] > 0.0
    assert [s["code"] for s in answer["skipped"]] == ["TURNOVER_CAPPED"]
