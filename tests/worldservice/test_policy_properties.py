"""Property tests of the v3 policy core (hypothesis): the limits hold, nothing is lost."""

from __future__ import annotations

from collections import defaultdict

from hypothesis import given, reject, settings
from hypothesis import strategies as st

from app.contracts.policy import Band, CashPolicy, RebalancePolicy
from app.contracts.rebalancing import OverlayConfig, RebalanceRequest
from app.worldservice.planner import PlanOverflowError, PlanParts, compute_plan
from tests.worldservice.plan_builders import pos, request
from tests.worldservice.reference_v2 import reference_deltas

WORLDS = ("w0", "w1", "w2")
SYMBOLS = ("A", "B", "C")
Key = tuple[str, str, str | None]

positions_st = st.lists(
    st.builds(
        pos,
        st.sampled_from(WORLDS),
        st.sampled_from(("s0", "s1", "s2")),
        st.sampled_from(SYMBOLS),
        st.floats(min_value=-1000, max_value=1000, allow_nan=False),
        st.floats(min_value=0.01, max_value=10_000, allow_nan=False),
        st.sampled_from((None, "x", "y")),
    ),
    max_size=30,
)
alloc_st = st.fixed_dictionaries(
    {w: st.one_of(st.just(0.0), st.floats(min_value=0.01, max_value=1.0)) for w in WORLDS}
)
strategy_map_st = st.one_of(
    st.none(),
    st.fixed_dictionaries({"w1": st.fixed_dictionaries(
        {"s0": st.floats(min_value=0.0, max_value=0.5), "s1": st.floats(min_value=0, max_value=0.5)}
    )}),
)
lots_st = st.one_of(
    st.none(),
    st.fixed_dictionaries({s: st.sampled_from((0.001, 0.1, 1.0, 0.25)) for s in SYMBOLS}),
)
dust_st = st.sampled_from((None, 0.0, 25.0, 1_000.0))
equity_st = st.sampled_from((1_000.0, 100_000.0, 1_000_000.0))
mode_st = st.sampled_from(("scaling", "hybrid"))
band_st = st.builds(Band, abs=st.floats(min_value=0, max_value=0.2),
                    rel=st.floats(min_value=0, max_value=2))
cash_st = st.builds(CashPolicy, available=st.floats(min_value=0, max_value=2_000_000),
                    buffer=st.floats(min_value=0, max_value=0.99))
policy_st = st.builds(
    RebalancePolicy,
    band=st.one_of(st.none(), band_st),
    max_turnover=st.one_of(st.none(), st.floats(min_value=0.0001, max_value=2)),
    cash=st.one_of(st.none(), cash_st),
)


@st.composite
def requests_st(
    draw: st.DrawFn, policy: st.SearchStrategy[RebalancePolicy | None]
) -> RebalanceRequest:
    mode = draw(mode_st)
    overlay = None
    if mode == "hybrid":
        overlay = OverlayConfig(
            instrument_by_world=dict.fromkeys(WORLDS, "IDX"), price_by_symbol={"IDX": 100.0},
            overlay_fraction=draw(st.floats(min_value=0, max_value=0.9)),
        )
    return request(
        total_equity=draw(equity_st),
        world_alloc_before=draw(alloc_st),
        world_alloc_after=draw(alloc_st),
        positions=draw(positions_st),
        strategy_alloc_after_total=draw(strategy_map_st),
        lot_size_by_symbol=draw(lots_st),
        min_trade_notional=draw(dust_st),
        mode=mode,
        overlay=overlay,
        policy=draw(policy),
    )


def plan(req: RebalanceRequest, *, explain: bool = True) -> PlanParts:
    """The plan, or no example: a scale that overflows is a 422, tested elsewhere."""
    try:
        return compute_plan(req, explain=explain)
    except PlanOverflowError:
        reject()


def _deltas(parts: PlanParts) -> tuple[dict[str, list[object]], list[object]]:
    per_world = {w: p.deltas for w, p in parts.per_world.items() if p.deltas}
    return per_world, list(parts.global_deltas)


def _marks(req: RebalanceRequest) -> dict[Key, tuple[float, float]]:
    """Σ|qty| and Σ|qty|·mark of each (world, symbol, venue)."""
    out: dict[Key, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for p in req.positions:
        slot = out[(p.world_id, p.symbol, p.venue)]
        slot[0] += abs(p.qty)
        slot[1] += abs(p.qty) * p.mark
    return {k: (v[0], v[1]) for k, v in out.items()}


def _traded(parts: PlanParts) -> dict[Key, float]:
    return {(w, d.symbol, d.venue): d.delta_qty
            for w, p in parts.per_world.items() for d in p.deltas}


def _notional(parts: PlanParts, req: RebalanceRequest) -> dict[Key, float]:
    marks = _marks(req)
    return {k: q * marks[k][1] / marks[k][0] for k, q in _traded(parts).items()}


@settings(max_examples=150)
@given(requests_st(st.sampled_from((None, RebalancePolicy(),
                                     RebalancePolicy(band=Band(abs=0.0, rel=0.0))))))
def test_without_a_policy_v3_deltas_are_exactly_the_v2_deltas(req: RebalanceRequest) -> None:
    explained = plan(req)
    assert _deltas(explained) == _deltas(plan(req, explain=False))
    want_world, want_global = reference_deltas(req)
    got_world, got_global = _deltas(explained)
    assert got_world == {w: d for w, d in want_world.items() if d}
    assert got_global == want_global
    assert explained.skipped is not None
    assert {s.code for s in explained.skipped} <= {"BELOW_MIN_NOTIONAL", "BELOW_LOT"}


@settings(max_examples=150)
@given(requests_st(policy_st))
def test_turnover_after_the_cap_is_within_the_cap(req: RebalanceRequest) -> None:
    cap = req.policy.max_turnover if req.policy is not None else None
    parts = plan(req)
    if cap is None:
        return
    turnover = sum(abs(n) for n in _notional(parts, req).values())
    limit = cap * req.total_equity
    gross = sum(n for _, n in _marks(req).values())
    assert turnover <= limit * (1 + 1e-9) + 1e-9 * gross + 1e-9


@settings(max_examples=150)
@given(requests_st(policy_st))
def test_net_buy_notional_stays_within_the_cash_budget(req: RebalanceRequest) -> None:
    parts = plan(req)
    cash = req.policy.cash if req.policy is not None else None
    if cash is None:
        assert parts.funding is None
        return
    assert parts.funding is not None
    notional = _notional(parts, req).values()
    buys = sum(n for n in notional if n > 0)
    sells = -sum(n for n in notional if n < 0)
    budget = cash.available - cash.buffer * req.total_equity + sells
    tolerance = 1e-9 * (buys + sells + cash.available) + 1e-9
    assert buys <= max(0.0, budget) + tolerance
    assert abs(parts.funding.sells - sells) <= tolerance
    assert 0.0 <= parts.funding.buy_scale <= 1.0


@settings(max_examples=150)
@given(requests_st(policy_st))
def test_skipped_plus_traded_is_the_delta_without_the_policy(req: RebalanceRequest) -> None:
    parts = plan(req)
    assert parts.skipped is not None
    pre: dict[Key, float] = defaultdict(float)
    scale_room = 1.0
    for p in req.positions:
        s = parts.per_world[p.world_id].scale_by_strategy[p.strategy_id]
        scale_room = max(scale_room, abs(s - 1.0))
        pre[(p.world_id, p.symbol, p.venue)] += p.qty * p.mark * (s - 1.0)
    marks = _marks(req)
    skipped: dict[Key, float] = defaultdict(float)
    for item in parts.skipped:
        skipped[(item.world_id, item.symbol, item.venue)] += item.delta_qty
    traded = _traded(parts)
    for key, change in pre.items():
        abs_q, abs_n = marks[key]
        want = change * abs_q / abs_n if abs_n else 0.0
        got = traded.get(key, 0.0) + skipped.get(key, 0.0)
        assert abs(got - want) <= 1e-9 * abs_q * (1 + scale_room) + 1e-12, key
    assert set(skipped) <= set(pre)


@settings(max_examples=150)
@given(requests_st(st.just(RebalancePolicy(band=Band(abs=1e9)))))
def test_a_band_wider_than_any_move_skips_every_strategy(req: RebalanceRequest) -> None:
    parts = plan(req)
    assert all(not p.deltas for p in parts.per_world.values())
    assert parts.global_deltas == []
    assert parts.skipped is not None
    assert {s.code for s in parts.skipped} <= {"WITHIN_BAND"}
    assert all(s.strategy_id is not None for s in parts.skipped)


def test_reference_is_the_planner_of_v2() -> None:
    req = request(
        world_alloc_before={"w": 0.5}, world_alloc_after={"w": 0.4},
        positions=[pos("w", "s", "A", 3.0, 10.0), pos("w", "t", "A", -1.0, 12.0)],
        lot_size_by_symbol={"A": 0.1},
    )
    per_world, global_deltas = reference_deltas(req)
    assert [d.delta_qty for d in per_world["w"]] == [-0.3]  # -3.6 at the mark 10.5
    assert [d.delta_qty for d in global_deltas] == [-0.3]
    assert _deltas(compute_plan(req)) == (per_world, global_deltas)
