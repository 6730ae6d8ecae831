"""The ``skipped`` section of a v3 answer: every delta the rules removed or shrank, and why."""

from __future__ import annotations

from collections.abc import Mapping
from itertools import repeat

import numpy as np

from app.contracts.policy import Band, RebalancePolicy, SkipCode, SkippedDelta
from app.worldservice.planner.arrays import (
    FloatArray,
    IntArray,
    as_objects,
    group,
    overflow_at,
    sums,
)
from app.worldservice.planner.band import Banded
from app.worldservice.planner.columns import Columns
from app.worldservice.planner.netting import Netted
from app.worldservice.planner.rounding import Rounded
from app.worldservice.planner.scales import StrategyScales
from app.worldservice.planner.trades import Trades

__all__ = ["skipped_deltas"]


class _Names:
    """Turns key numbers into world, symbol and venue names in one indexing step each."""

    def __init__(self, cols: Columns, net: Netted) -> None:
        self.net = net
        self.worlds = as_objects(cols.worlds)
        self.symbols = as_objects(cols.symbols)
        self.venues = as_objects([v or None for v in cols.venues])

    def entries(
        self, keys: IntArray, qty: FloatArray, code: SkipCode, details: list[str] | str,
        strategies: list[str] | None = None,
    ) -> list[SkippedDelta]:
        """One entry per key with a non-zero ``qty``.

        Raises:
            PlanOverflowError: a skipped quantity is not finite (it names the positions).
        """
        bad = ~np.isfinite(qty)
        if bad.any():  # a change over a tiny mark, or a held-back change too large to sum
            raise overflow_at(f"a skipped quantity ({code})", self.net.positions_of(keys[bad]))
        keep = qty != 0.0
        if not keep.all():
            keys, qty = keys[keep], qty[keep]
            if isinstance(details, list):
                details = [d for d, k in zip(details, keep.tolist(), strict=True) if k]
            if strategies is not None:
                strategies = [s for s, k in zip(strategies, keep.tolist(), strict=True) if k]
        net = self.net
        columns = [
            self.worlds[net.world[keys]].tolist(),
            self.symbols[net.symbol[keys]].tolist(),
            self.venues[net.venue[keys]].tolist(),
            qty.tolist(),
            repeat(code),
            details if isinstance(details, list) else repeat(details),
        ]
        if strategies is not None:
            columns.append(strategies)
        return list(map(SkippedDelta, *columns))


def _per_unit(net: Netted, keys: IntArray) -> FloatArray:
    """Quantity per unit of notional of each key (1 / its quantity-weighted mark)."""
    with np.errstate(all="ignore"):
        out: FloatArray = net.abs_qty[keys] / net.abs_notional[keys]
    return out


def _band(
    cols: Columns, net: Netted, scales: StrategyScales, banded: Banded, band: Band,
    notional: FloatArray, names: _Names,
) -> list[SkippedDelta]:
    """One entry per banded (world, strategy) and (venue, symbol): the strategy's share of
    the netted delta, converted at the key's mark."""
    held = banded.held
    if held is None:
        return []
    rows = np.flatnonzero((held != 0.0) & (notional != 0.0))
    keys, strategies = net.key[rows], cols.strategy[rows]
    g_key, g_strategy, inverse = group(keys, strategies, len(cols.strategies))
    change = sums(inverse, notional[rows] * held[rows], len(g_key))
    qty = change * _per_unit(net, g_key)
    detail_of: dict[tuple[int, int], str] = {}
    for pair in banded.pairs.tolist():
        before, after = float(scales.before[pair]), float(scales.after[pair])
        detail_of[(int(scales.pair_world[pair]), int(scales.pair_strategy[pair]))] = (
            f"the strategy moves {abs(after - before):.6g} of equity ({before:.6g} → "
            f"{after:.6g}), within the no-trade band (abs {band.abs:g}, rel {band.rel:g})"
        )
    worlds = net.world[g_key].tolist()
    codes = g_strategy.tolist()
    details = [detail_of[(w, s)] for w, s in zip(worlds, codes, strict=True)]
    owners = [cols.strategies[s] for s in codes]
    return names.entries(g_key, qty, "WITHIN_BAND", details, owners)


def _rules(
    side: Rounded, net: Netted, names: _Names, dust: float, lot_by_symbol: Mapping[str, float],
    symbols: list[str],
) -> list[SkippedDelta]:
    """The dust and lot entries of one side (sells or buys)."""
    out = names.entries(
        side.dust, side.dust_qty, "BELOW_MIN_NOTIONAL",
        f"|delta_qty| × mark is below min_trade_notional {dust:g}",
    )
    if not len(side.cut):
        return out
    # One text per symbol and case, picked for every entry in one indexing step.
    lots = [lot_by_symbol.get(s) for s in symbols]
    partial = as_objects([f"rounded toward zero to a multiple of the lot {lot:g}"
                          if lot is not None else "" for lot in lots])
    whole = as_objects([f"|quantity| is below one lot of {lot:g}" if lot is not None else ""
                        for lot in lots])
    code = net.symbol[side.cut]
    details = np.where(side.cut_whole, whole[code], partial[code]).tolist()
    return out + names.entries(side.cut, side.cut_qty, "BELOW_LOT", details)


def skipped_deltas(
    cols: Columns, net: Netted, scales: StrategyScales, banded: Banded, trades: Trades,
    notional: FloatArray, policy: RebalancePolicy | None, dust: float,
    lot_by_symbol: Mapping[str, float], equity: float,
) -> list[SkippedDelta]:
    """Every removed or shrunk quantity, in the order of the rules that removed it.

    Band (per strategy) → turnover cap → the sells' min notional and lots → the cash limit
    → the buys' min notional and lots; within a rule in (world, symbol, venue) order.
    ``delta_qty`` is the part that will not trade, so a key's traded delta plus its skipped
    quantities is its delta without the rules.

    Raises:
        PlanOverflowError: a skipped quantity is not finite (it names the positions).
    """
    with np.errstate(all="ignore"):  # an overflow is an inf that ``entries`` names
        names = _Names(cols, net)
        out: list[SkippedDelta] = []
        if policy is not None and policy.band is not None:
            out += _band(cols, net, scales, banded, policy.band, notional, names)
        if trades.cap_scale != 1.0 and policy is not None and policy.max_turnover is not None:
            turnover = float(np.abs(trades.change).sum())
            share = turnover / equity if equity > 0.0 else float("inf")
            detail = (f"turnover {share:.6g} of equity is above max_turnover "
                      f"{policy.max_turnover:g}: every delta scaled by {trades.cap_scale:.6g}")
            cut = trades.change * (1.0 - trades.cap_scale) * _per_unit(net, trades.live)
            out += names.entries(trades.live, cut, "TURNOVER_CAPPED", detail)
        out += _rules(trades.sold, net, names, dust, lot_by_symbol, cols.symbols)
        funding = trades.funding
        if funding is not None and funding.buy_scale != 1.0:
            detail = (f"buys of {funding.buys:.2f} exceed the cash budget {funding.budget:.2f}: "
                      f"every buy scaled by {funding.buy_scale:.6g}")
            cut = trades.buy_change * (1.0 - funding.buy_scale) * _per_unit(net, trades.buys)
            out += names.entries(trades.buys, cut, "CASH_LIMITED", detail)
        out += _rules(trades.bought, net, names, dust, lot_by_symbol, cols.symbols)
    return out
