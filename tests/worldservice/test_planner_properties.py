"""Property tests of the planner's invariants (hypothesis)."""

from __future__ import annotations

import math
from collections import defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.contracts.rebalancing import PositionSlice, RebalanceRequest
from app.worldservice.planner import PlanParts, compute_plan
from tests.worldservice.plan_builders import pos, request

WORLDS = ("w0", "w1", "w2")
SYMBOLS = ("A", "B", "C")

positions_st = st.lists(
    st.builds(
        pos,
        st.sampled_from(WORLDS),
        st.sampled_from(("s0", "s1")),
        st.sampled_from(SYMBOLS),
        st.floats(min_value=-1000, max_value=1000, allow_nan=False),
        st.floats(min_value=0.01, max_value=10_000, allow_nan=False),
        st.sampled_from((None, "x", "y")),
    ),
    max_size=30,
)
alloc_st = st.fixed_dictionaries(
    # Tiny non-zero allocations overflow the scale (a 422 over HTTP, tested elsewhere).
    {w: st.one_of(st.just(0.0), st.floats(min_value=0.01, max_value=1.0)) for w in WORLDS}
)
lots_st = st.one_of(
    st.none(),
    st.fixed_dictionaries({s: st.sampled_from((0.001, 0.1, 1.0, 0.25)) for s in SYMBOLS}),
)


def _summary(parts: PlanParts) -> dict[str, object]:
    return {
        "worlds": {
            w: [(d.symbol, d.venue, round(d.delta_qty, 9)) for d in p.deltas]
            for w, p in parts.per_world.items()
        },
        "global": [(d.symbol, d.venue, round(d.delta_qty, 9)) for d in parts.global_deltas],
    }


@given(positions_st, alloc_st)
def test_all_scales_one_means_no_deltas(
    positions: list[PositionSlice], alloc: dict[str, float]
) -> None:
    parts = compute_plan(
        request(world_alloc_before=alloc, world_alloc_after=alloc, positions=positions)
    )
    nonzero = {w for w, a in alloc.items() if a > 0}
    for world, plan in parts.per_world.items():
        if world in nonzero:
            assert plan.deltas == []
    if nonzero == set(WORLDS):
        assert parts.global_deltas == []


@settings(max_examples=200)
@given(positions_st, alloc_st, alloc_st, lots_st, st.sampled_from((None, 0.0, 25.0)), st.data())
def test_output_does_not_depend_on_position_order(
    positions: list[PositionSlice],
    before: dict[str, float],
    after: dict[str, float],
    lots: dict[str, float] | None,
    dust: float | None,
    data: st.DataObject,
) -> None:
    shuffled = data.draw(st.permutations(positions))
    fields = {
        "world_alloc_before": before,
        "world_alloc_after": after,
        "lot_size_by_symbol": lots,
        "min_trade_notional": dust,
    }
    first = compute_plan(request(positions=positions, **fields))
    second = compute_plan(request(positions=list(shuffled), **fields))
    assert _summary(first) == _summary(second)


@settings(max_examples=200)
@given(positions_st, alloc_st, alloc_st, lots_st, st.sampled_from((0.0, 25.0)))
def test_netting_keeps_the_total_notional_change(
    positions: list[PositionSlice],
    before: dict[str, float],
    after: dict[str, float],
    lots: dict[str, float] | None,
    dust: float,
) -> None:
    req: RebalanceRequest = request(
        world_alloc_before=before,
        world_alloc_after=after,
        positions=positions,
        lot_size_by_symbol=lots,
        min_trade_notional=dust,
    )
    parts = compute_plan(req)
    # Expected change per (world, symbol, venue) straight from the positions.
    want: dict[tuple[str, str, str | None], float] = defaultdict(float)
    abs_q: dict[tuple[str, str, str | None], float] = defaultdict(float)
    abs_n: dict[tuple[str, str, str | None], float] = defaultdict(float)
    for p in positions:
        g = parts.per_world[p.world_id].scale_by_strategy[p.strategy_id]
        key = (p.world_id, p.symbol, p.venue)
        want[key] += p.qty * p.mark * (g - 1.0)
        abs_q[key] += abs(p.qty)
        abs_n[key] += abs(p.qty) * p.mark
    got: dict[tuple[str, str, str | None], float] = defaultdict(float)
    for world, plan in parts.per_world.items():
        for d in plan.deltas:
            key = (world, d.symbol, d.venue)
            got[key] += d.delta_qty * abs_n[key] / abs_q[key]
    allowance = 0.0
    for key in want:
        if abs_q[key]:
            mark = abs_n[key] / abs_q[key]
            lot = (lots or {}).get(key[1], 0.0)
            allowance += lot * mark + dust + 1e-9 * (abs_n[key] + 1.0)
    assert math.fsum(got.values()) == pytest.approx(
        math.fsum(want.values()), abs=allowance + 1e-6
    )
    for key, value in got.items():  # each key moves in the planned direction, never beyond
        assert abs(value) <= abs(want[key]) + 1e-9 * (abs_n[key] + 1.0)
