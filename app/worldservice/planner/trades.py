"""Netted changes to the deltas that trade, in the policy's order.

Turnover cap → the sells' dust and lot rules → the cash limit on the buys (funded by the
sells as they will trade) → the buys' dust and lot rules. Without a policy the cap and the
cash limit are no-ops and every key goes through exactly the rules of schema v1/v2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.contracts.policy import Funding, RebalancePolicy
from app.worldservice.planner.arrays import (
    FloatArray,
    IntArray,
    PlanOverflowError,
    overflow_at,
    to_notional,
)
from app.worldservice.planner.limits import fund_buys, turnover_scale
from app.worldservice.planner.netting import Netted
from app.worldservice.planner.rounding import NOISE_RELATIVE, Lots, Rounded, merge, round_keys

__all__ = ["Trades", "trade_keys"]


@dataclass(frozen=True, slots=True)
class Trades:
    """What each step did to the netted keys (the explanation of a v3 answer reads it).

    Attributes:
        live: the keys with a real change (not float noise), ascending.
        change: their netted notional changes.
        cap_scale: the turnover cap's factor (1.0 without a cap or below it).
        sold: the sells after their dust and lot rules.
        buys: the buy keys; ``buy_change`` their notional after the cap.
        funding: the cash figures (None without a cash policy).
        bought: the buys after the cash limit and their dust and lot rules.
        final: sells and buys joined in key order: the per-world deltas.
    """

    live: IntArray
    change: FloatArray
    cap_scale: float
    sold: Rounded
    buys: IntArray
    buy_change: FloatArray
    funding: Funding | None
    bought: Rounded
    final: Rounded


def _nonzero(idx: IntArray, change: FloatArray) -> tuple[IntArray, FloatArray]:
    """Keys a limit scaled to nothing do not trade (and are not rounded)."""
    if change.all():
        return idx, change
    keep = change != 0.0
    return idx[keep], change[keep]


def trade_keys(
    net: Netted, lots: Lots, dust: float, policy: RebalancePolicy | None, equity: float
) -> Trades:
    """Apply the turnover cap, the dust and lot rules and the cash limit to ``net``.

    Args:
        net: the netted keys.
        lots: the lot sizes.
        dust: ``min_trade_notional`` (0 for none).
        policy: the request's policy, if any.
        equity: total equity.

    Raises:
        PlanOverflowError: a quantity or a limit figure is not finite.
    """
    with np.errstate(all="ignore"):
        noise = np.abs(net.change) <= NOISE_RELATIVE * net.abs_notional
    live = np.flatnonzero(~noise)
    change = net.change[live]
    try:
        cap = turnover_scale(policy.max_turnover if policy else None, equity, change)
    except PlanOverflowError as exc:  # Σ|change| of finite changes: name what went in
        raise overflow_at(exc.what, net.positions_of(live)) from exc
    capped = change * cap if cap != 1.0 else change
    sell = capped < 0.0
    sold = round_keys(lots, net, *_nonzero(live[sell], capped[sell]), dust)
    buys, buy_change = live[~sell], capped[~sell]
    funding = None
    funded = buy_change
    if policy is not None and policy.cash is not None:
        with np.errstate(all="ignore"):
            sold_notional = float(np.abs(
                to_notional(sold.qty, net.abs_qty[sold.idx], net.abs_notional[sold.idx])
            ).sum())
            wanted = float(buy_change.sum())
        if not np.isfinite(sold_notional):
            raise overflow_at("the sold notional", net.positions_of(sold.idx))
        if not np.isfinite(wanted):
            raise overflow_at("the buy notional", net.positions_of(buys))
        try:
            funding = fund_buys(policy.cash, equity, buy_change, sold_notional)
        except PlanOverflowError as exc:  # cash on hand plus what the sells raise
            raise overflow_at(
                exc.what, net.positions_of(sold.idx), also=["$.policy.cash.available"]
            ) from exc
        if funding.buy_scale != 1.0:
            funded = buy_change * funding.buy_scale
    bought = round_keys(lots, net, *_nonzero(buys, funded), dust)
    return Trades(
        live=live, change=change, cap_scale=cap, sold=sold, buys=buys, buy_change=buy_change,
        funding=funding, bought=bought, final=merge(len(net.change), sold, bought),
    )
