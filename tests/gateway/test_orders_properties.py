"""Property tests of order conversion: lot multiples, min notional, safe reduce-only."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from app.contracts.lots import LOT_TOLERANCE
from app.gateway.constraints import RuleBook
from app.gateway.orders import convert_plan
from app.settings import InstrumentConstraint
from tests.gateway.factories import plan_v1, pos, request_of

quantities = st.floats(min_value=-1e4, max_value=1e4, allow_nan=False, allow_infinity=False)
lots = st.sampled_from([0.001, 0.01, 0.1, 0.25, 1.0, 5.0])
marks = st.floats(min_value=0.01, max_value=1e4, allow_nan=False, allow_infinity=False)
min_notionals = st.sampled_from([0.0, 1.0, 10.0, 250.0])
flips = st.sampled_from(["flatten_then_open", "direct"])


@settings(max_examples=300, deadline=None)
@given(
    current=st.lists(quantities, min_size=1, max_size=3),
    delta=quantities,
    lot=lots,
    mark=marks,
    min_notional=min_notionals,
    flip=flips,
)
def test_orders_respect_lots_min_notional_and_reduce_only(
    current: list[float], delta: float, lot: float, mark: float, min_notional: float, flip: str
) -> None:
    rules = RuleBook(
        [InstrumentConstraint(symbol="X", lot_size=lot, min_notional=min_notional)], []
    )
    req = request_of([pos("a", f"s{i}", "X", q, mark=mark) for i, q in enumerate(current)])
    conv = convert_plan(
        req,
        plan_v1({"a": [("X", delta, None)]}),
        rules,
        flip_policy=flip,  # type: ignore[arg-type]
    )
    held = sum(current)
    orders = [o for b in conv.batches for o in b.orders]
    for order in orders:
        lots_count = order.quantity / lot
        assert abs(lots_count - round(lots_count)) <= LOT_TOLERANCE * 10, order
        assert order.quantity != 0.0
        assert abs(order.quantity) * mark >= min_notional * (1 - 1e-12), order
        after = held + order.quantity
        if order.reduce_only:
            # reduce_only never grows exposure nor crosses zero.
            assert abs(after) <= abs(held) + 1e-9
            assert held * after >= -1e-9
        held = after
    if orders:
        total = sum(o.quantity for o in orders)
        assert abs(total) <= abs(delta) + 1e-9  # rounding is toward zero
        assert abs(total - delta) < lot * (1 + 1e-6)
    else:
        assert conv.dropped or delta == 0.0
