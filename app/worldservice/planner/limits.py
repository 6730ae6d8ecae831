"""The policy's two limits on the netted deltas: the turnover cap and the cash budget."""

from __future__ import annotations

import numpy as np

from app.contracts.policy import CashPolicy, Funding
from app.worldservice.planner.arrays import FloatArray, finite

__all__ = ["fund_buys", "turnover_scale"]


def turnover_scale(max_turnover: float | None, equity: float, change: FloatArray) -> float:
    """The factor every delta is scaled by so that Σ|notional| stays within the cap.

    Args:
        max_turnover: the cap as a fraction of ``equity`` (None: no cap).
        equity: total equity.
        change: the netted notional changes.

    Returns:
        1.0 when the turnover ``T = Σ|change|`` is within ``max_turnover · equity``, else
        ``max_turnover · equity / T`` (0 when the equity is 0: nothing may trade).

    Raises:
        PlanOverflowError: the turnover is not finite.
    """
    if max_turnover is None:
        return 1.0
    with np.errstate(all="ignore"):
        total = finite(float(np.abs(change).sum()), "the turnover")
    limit = max_turnover * equity
    if total <= limit:
        return 1.0
    return limit / total


def fund_buys(
    cash: CashPolicy, equity: float, buys: FloatArray, sold_notional: float
) -> Funding:
    """How much of the buys the cash budget pays for.

    The budget is ``available − buffer · equity`` plus the notional of the sells that will
    trade (after their own dust and lot rules: a sell dropped as dust funds nothing).

    Args:
        cash: the cash policy.
        equity: total equity.
        buys: the buy notional changes (positive).
        sold_notional: Σ|notional| of the sells that will trade.

    Returns:
        The funding figures; ``buy_scale`` is 1.0 when the budget covers every buy, else
        ``max(0, budget) / Σ buys``.

    Raises:
        PlanOverflowError: a figure is not finite.
    """
    with np.errstate(all="ignore"):
        wanted = finite(float(buys.sum()), "the buy notional")
    budget = finite(cash.available - cash.buffer * equity + sold_notional, "the cash budget")
    affordable = max(0.0, budget)
    scale = 1.0 if wanted <= affordable else affordable / wanted
    return Funding(
        available=cash.available, buffer=cash.buffer, buys=wanted, sells=sold_notional,
        budget=budget, buy_scale=scale,
    )
