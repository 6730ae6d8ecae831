"""The vectorised planner passes against a plain-Python reference of SPEC §3 scaling."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.contracts.lots import round_to_lot
from app.contracts.rebalancing import RebalanceRequest, SymbolDelta
from app.worldservice.planner import (
    NOISE_RELATIVE,
    PlanOverflowError,
    arrays,
    columns,
    compute_plan,
    netting,
)
from app.worldservice.planner.arrays import group
from tests.worldservice.plan_builders import pos, request

Key = tuple[str, str]


def reference_deltas(
    req: RebalanceRequest,
) -> tuple[dict[str, list[SymbolDelta]], list[SymbolDelta]]:
    """Per-world and global deltas of a scaling request with world scales only (no strategy
    maps), computed one position at a time with dicts and ``round_to_lot``."""
    g = {w: req.world_alloc_after[w] / req.world_alloc_before[w] for w in req.world_alloc_before}
    acc: dict[tuple[str, str, str], list[float]] = {}
    for p in req.positions:
        entry = acc.setdefault((p.world_id, p.symbol, p.venue or ""), [0.0, 0.0, 0.0])
        entry[0] += p.qty * p.mark * (g[p.world_id] - 1.0)
        entry[1] += abs(p.qty)
        entry[2] += abs(p.qty) * p.mark
    lots = req.lot_size_by_symbol or {}
    dust = req.min_trade_notional or 0.0
    per_world: dict[str, list[SymbolDelta]] = defaultdict(list)
    weights: dict[Key, list[float]] = {}
    counts: dict[Key, int] = defaultdict(int)
    floats: dict[Key, float] = defaultdict(float)
    for (world, symbol, venue), (d, abs_q, abs_n) in sorted(acc.items()):
        weight = weights.setdefault((symbol, venue), [0.0, 0.0])
        weight[0] += abs_q
        weight[1] += abs_n
        if abs(d) <= NOISE_RELATIVE * abs_n or abs(d) < dust:
            continue
        qty = d * abs_q / abs_n
        lot = lots.get(symbol)
        if lot is not None:
            qty = round_to_lot(qty, lot)
            if not qty:
                continue
            counts[(symbol, venue)] += round(qty / lot)
        else:
            floats[(symbol, venue)] += qty
        per_world[world].append(SymbolDelta(symbol=symbol, delta_qty=qty, venue=venue or None))
    totals = {k: round_to_lot(c * lots[k[0]], lots[k[0]]) for k, c in counts.items()}
    totals.update(floats)
    global_deltas = []
    for (symbol, venue), qty in sorted(totals.items()):
        abs_q, abs_n = weights[(symbol, venue)]
        if qty != 0.0 and not (dust and abs(qty) * abs_n / abs_q < dust):
            global_deltas.append(SymbolDelta(symbol=symbol, delta_qty=qty, venue=venue or None))
    return dict(per_world), global_deltas


positions_st = st.lists(
    st.builds(
        pos,
        st.sampled_from(("w0", "w1", "w2")),
        st.sampled_from(("s0", "s1")),
        st.sampled_from(("A", "B", "C", "D")),
        st.integers(-400, 400).map(lambda i: i / 8),  # exact sums in any order
        st.sampled_from((1.0, 2.0, 4.0, 100.0)),
        st.sampled_from((None, "x", "y")),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(
    positions=positions_st,
    after=st.tuples(*[st.sampled_from((0.1, 0.25, 0.5, 0.75)) for _ in range(3)]),
    lots=st.sampled_from((None, {"A": 0.5, "B": 0.125}, {"A": 1.0, "C": 0.25, "D": 2.0})),
    dust=st.sampled_from((None, 1.0, 30.0)),
    pack_limit=st.sampled_from((2**62, 2)),
)
def test_vectorised_plan_matches_the_reference(
    positions: list, after: tuple[float, float, float], lots: dict[str, float] | None,
    dust: float | None, pack_limit: int,
) -> None:
    req = request(
        world_alloc_before={"w0": 0.5, "w1": 0.5, "w2": 0.5},
        world_alloc_after=dict(zip(("w0", "w1", "w2"), after, strict=True)),
        positions=positions,
        lot_size_by_symbol=lots,
        min_trade_notional=dust,
    )
    with pytest.MonkeyPatch.context() as patch:
        # pack_limit 2 forces the row-comparing grouping instead of packed int64 codes.
        patch.setattr(arrays, "PACK_LIMIT", pack_limit)
        patch.setattr(netting, "PACK_LIMIT", pack_limit)
        parts = compute_plan(req)
    per_world, global_deltas = reference_deltas(req)
    assert {w: p.deltas for w, p in parts.per_world.items() if p.deltas} == per_world
    assert parts.global_deltas == global_deltas


@pytest.mark.parametrize("nb", [3, 1000])
def test_group_orders_pairs_and_numbers_rows(nb: int) -> None:
    # nb=3 takes the dense (bincount) path, nb=1000 the sorting one.
    a = np.array([2, 0, 2, 1, 0, 2], np.intp)
    b = np.array([1, 2, 1, 0, 2, 0], np.intp)
    ga, gb, inverse = group(a, b, nb)
    pairs = list(zip(ga.tolist(), gb.tolist(), strict=True))
    assert pairs == [(0, 2), (1, 0), (2, 0), (2, 1)]
    assert [pairs[i] for i in inverse.tolist()] == list(zip(a.tolist(), b.tolist(), strict=True))


def test_columns_code_names_in_sort_order() -> None:
    cols = columns([pos("w2", "s", "B", 1.0, 2.0, "x"), pos("w1", "s", "A", 3.0, 4.0)])
    assert cols.worlds == ["w1", "w2"] and cols.venues == ["", "x"]
    assert cols.world.tolist() == [1, 0] and cols.venue.tolist() == [1, 0]
    assert cols.qty.tolist() == [1.0, 3.0] and cols.mark.tolist() == [2.0, 4.0]


def test_lots_without_a_short_decimal_form_use_the_exact_path() -> None:
    # 1e-30 has no m / 10**d form with d <= 22: the per-key and global quantities take the
    # Decimal path and are still exact multiples.
    req = request(
        world_alloc_after={"w": 0.25},
        positions=[pos("w", "s", "A", 3e-28, 1.0), pos("w", "t", "A", 1e-28, 1.0)],
        lot_size_by_symbol={"A": 1e-30},
    )
    parts = compute_plan(req)
    assert [d.delta_qty for d in parts.per_world["w"].deltas] == [-2e-28]
    assert [d.delta_qty for d in parts.global_deltas] == [-2e-28]


def test_huge_lot_counts_are_summed_exactly() -> None:
    # Counts of -2**61, -256 and -256 lots: float sums round -2**61 - 256 back to -2**61
    # (twice); the exact integer sum is -2**61 - 512, a float.
    worlds = ("w1", "w2", "w3")
    req = request(
        world_alloc_before=dict.fromkeys(worlds, 0.5),
        world_alloc_after=dict.fromkeys(worlds, 0.25),
        positions=[
            pos(w, "s", "A", q, 1.0) for w, q in zip(worlds, (2.0**62, 512.0, 512.0), strict=True)
        ],
        lot_size_by_symbol={"A": 1.0},
    )
    parts = compute_plan(req)
    assert [p.deltas[0].delta_qty for p in parts.per_world.values()] == [-(2.0**61), -256, -256]
    assert [d.delta_qty for d in parts.global_deltas] == [-(2.0**61) - 512]


def test_a_lot_count_that_overflows_is_reported() -> None:
    req = request(
        world_alloc_after={"w": 0.25},
        positions=[pos("w", "s", "A", 1e300, 1.0)],
        lot_size_by_symbol={"A": 1e-300},
    )
    with pytest.raises(PlanOverflowError):
        compute_plan(req)
