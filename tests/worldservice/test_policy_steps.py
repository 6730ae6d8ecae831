"""The policy's steps one by one (pure), and its refusals over HTTP."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from litestar.testing import TestClient

from app.contracts.policy import Band, CashPolicy, CostModel, Costs, RebalancePolicy
from app.worldservice.planner import PlanOverflowError, compute_plan
from app.worldservice.planner.band import within_band
from app.worldservice.planner.limits import fund_buys, turnover_scale
from tests.worldservice.plan_builders import pos, request

URL = "/worldservice/rebalancing/plan"
V3 = {"worldservice": {"server": {"compat_rebalance_v2": True, "compat_rebalance_v3": True}}}


@pytest.mark.parametrize(
    ("band", "before", "after", "inside"),
    [
        (Band(abs=0.01), 0.20, 0.205, True),
        (Band(abs=0.01), 0.20, 0.25, False),
        (Band(rel=0.1), 0.20, 0.215, True),  # 7.5% of itself
        (Band(rel=0.1), 0.20, 0.25, False),
        (Band(rel=0.1), 0.0, 0.001, False),  # no relative test without a positive before
        (Band(rel=0.1), -0.1, -0.1, False),
        (Band(abs=0.0, rel=0.0), 0.2, 0.2, False),  # a 0 disables the test
        (Band(abs=0.001, rel=0.5), 0.2, 0.25, True),  # either test is enough
    ],
)
def test_within_band(band: Band, before: float, after: float, inside: bool) -> None:
    got = within_band(band, np.array([before]), np.array([after]))
    assert got.tolist() == [inside]


@pytest.mark.parametrize(
    ("cap", "equity", "change", "scale"),
    [
        (None, 1000.0, [500.0, -700.0], 1.0),
        (2.0, 1000.0, [500.0, -700.0], 1.0),
        (1.0, 1000.0, [500.0, -1500.0], 0.5),
        (0.1, 0.0, [10.0], 0.0),  # no equity: no turnover allowed
        (0.1, 0.0, [], 1.0),
    ],
)
def test_turnover_scale(cap: float | None, equity: float, change: list[float],
                        scale: float) -> None:
    assert turnover_scale(cap, equity, np.array(change)) == scale


def test_turnover_overflow_is_refused() -> None:
    with pytest.raises(PlanOverflowError):
        turnover_scale(0.1, 1.0, np.array([1e308, 1e308]))


@pytest.mark.parametrize(
    ("cash", "buys", "sold", "budget", "scale"),
    [
        (CashPolicy(available=100.0), [50.0, 30.0], 0.0, 100.0, 1.0),
        (CashPolicy(available=100.0), [150.0, 50.0], 0.0, 100.0, 0.5),
        (CashPolicy(available=100.0, buffer=0.1), [150.0, 50.0], 100.0, 100.0, 0.5),
        (CashPolicy(available=0.0, buffer=0.5), [10.0], 200.0, -300.0, 0.0),
        (CashPolicy(available=0.0, buffer=0.5), [], 0.0, -500.0, 1.0),
    ],
)
def test_fund_buys(cash: CashPolicy, buys: list[float], sold: float, budget: float,
                   scale: float) -> None:
    funding = fund_buys(cash, 1000.0, np.array(buys), sold)
    assert (funding.budget, funding.buy_scale, funding.sells) == (budget, scale, sold)
    assert funding.buys == sum(buys)


def test_the_cost_of_a_delta_is_at_least_the_minimum_fee() -> None:
    costs = Costs(default=CostModel(fee_bps=10.0),
                  by_venue={"x": CostModel(slippage_bps=5.0, min_fee=3.0)})
    req = request(
        world_alloc_before={"w": 0.5}, world_alloc_after={"w": 0.25},
        positions=[pos("w", "s", "A", 100.0, 10.0, "x"), pos("w", "s", "B", 10.0, 1000.0)],
        policy=RebalancePolicy(costs=costs),
    )
    parts = compute_plan(req, explain=True)
    assert parts.projection is not None
    world = parts.projection.per_world["w"]
    # A sells 500 at 5 bps = 0.25 → the 3.0 minimum; B sells 5000 at 10 bps = 5.0.
    assert world.est_cost == pytest.approx(8.0)
    assert parts.projection.total.est_cost_bps == pytest.approx(8.0 / 5500 * 1e4)


def test_zero_equity_projects_zero_weights() -> None:
    req = request(total_equity=0.0, world_alloc_before={"w": 0.5},
                  world_alloc_after={"w": 0.25}, positions=[pos("w", "s", "A", 10.0, 10.0)])
    parts = compute_plan(req, explain=True)
    assert parts.projection is not None
    world = parts.projection.per_world["w"]
    assert (world.weight_before, world.weight_after, world.residual) == (0.0, 0.0, -0.25)
    assert world.turnover_notional == 50.0 and parts.projection.total.turnover_weight == 0.0


def test_a_world_without_positions_is_projected_at_zero() -> None:
    req = request(world_alloc_before={"w": 0.5, "empty": 0.0},
                  world_alloc_after={"w": 0.5, "empty": 0.2},
                  positions=[pos("w", "s", "A", 10.0, 10.0)])
    parts = compute_plan(req, explain=True)
    assert parts.projection is not None
    empty = parts.projection.per_world["empty"]
    assert (empty.weight_before, empty.weight_after, empty.target) == (0.0, 0.0, 0.2)


def test_overlay_exposure_counts_in_the_projection() -> None:
    from app.contracts.rebalancing import OverlayConfig

    req = request(
        world_alloc_before={"w": 0.5}, world_alloc_after={"w": 0.25},
        positions=[pos("w", "s", "A", 100.0, 50.0)], mode="overlay",
        overlay=OverlayConfig(instrument_by_world={"w": "IDX"}, price_by_symbol={"IDX": 100.0}),
    )
    parts = compute_plan(req, explain=True)
    assert parts.projection is not None and parts.overlay_deltas is not None
    assert [d.delta_qty for d in parts.overlay_deltas] == [-25.0]
    world = parts.projection.per_world["w"]
    assert world.weight_after == pytest.approx(0.0025)  # 5000 − 2500 over 1e6
    assert world.turnover_notional == 0.0  # the overlay belongs to no single world
    assert parts.projection.total.turnover_notional == 2500.0


def post(client: TestClient[Any], **extra: Any) -> Any:
    body: dict[str, Any] = {
        "schema_version": 3, "total_equity": 1000.0, "world_alloc_before": {"w": 0.5},
        "world_alloc_after": {"w": 0.4},
        "positions": [{"world_id": "w", "strategy_id": "s", "symbol": "A", "qty": 5.0,
                       "mark": 100.0}],
    }
    body.update(extra)
    # Python's json writes 1e400 as Infinity; a client sends the number as written.
    content = json.dumps(body).replace("Infinity", "1e400").encode()
    return client.post(URL, content=content, headers={"content-type": "application/json"})


@pytest.mark.parametrize(
    ("policy", "path"),
    [
        ({"band": {"abs": -0.1}}, "$.policy.band.abs"),
        ({"band": {"rel": "wide"}}, "$.policy.band.rel"),
        ({"max_turnover": 0}, "$.policy.max_turnover"),
        ({"cash": {"available": 100, "buffer": 1.0}}, "$.policy.cash.buffer"),
        ({"cash": {"buffer": 0.1}}, "$.policy.cash.available"),
        ({"costs": {"by_venue": {"x": {"min_fee": -1}}}}, "$.policy.costs.by_venue[...].min_fee"),
        ({"costs": {"default": {"fee_bps": 1e400}}}, "$.policy.costs.default.fee_bps"),
        ([1, 2], "$.policy"),
    ],
)
def test_a_bad_policy_is_a_422_naming_the_field(
    make_client: Callable[..., TestClient[Any]], policy: Any, path: str
) -> None:
    answer = post(make_client(V3), policy=policy)
    assert answer.status_code == 422, answer.text
    error = answer.json()
    assert error["code"] == "E_VALIDATION"
    assert error["errors"][0]["path"] == path


def test_an_empty_policy_changes_nothing(make_client: Callable[..., TestClient[Any]]) -> None:
    client = make_client(V3)
    plain, empty = post(client).json(), post(client, policy={}).json()
    assert empty == plain
    assert "funding" not in empty


def test_an_overflowing_projection_is_a_422(make_client: Callable[..., TestClient[Any]]) -> None:
    answer = post(make_client(V3), total_equity=1e-320, policy={"costs": {}})
    assert answer.status_code == 422, answer.text
    assert "not finite" in answer.json()["detail"]
