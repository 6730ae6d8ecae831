"""Figures too large for floats are a 422 naming the request part, never a silent drop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from litestar.testing import TestClient

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
