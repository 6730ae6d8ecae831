"""alpha_performance metrics (SPEC §5): pure per-period math.

The wire keys, the sanitiser and the envelope parser are part of the contract
(``app.contracts.alpha_envelope``) and are re-exported here for metric users.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from app.contracts.alpha_envelope import (
    METRIC_KEYS,
    METRIC_NAMES,
    default_metrics,
    parse_alpha_envelope,
    sanitize_metrics,
)

__all__ = [
    "METRIC_KEYS",
    "METRIC_NAMES",
    "compute_metrics",
    "compute_metrics_raw",
    "default_metrics",
    "parse_alpha_envelope",
    "sanitize_metrics",
]

_SHARPE, _MDD, _WIN, _PF, _CAR, _RAR = METRIC_KEYS


def _finite_or_none(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return value


def _sum(values: list[float]) -> float:
    """Exact-rounded sum; a plain (possibly infinite) sum when ``fsum`` overflows."""
    try:
        return math.fsum(values)
    except OverflowError:
        return sum(values)


def _ratio(num: float | None, den: float | None) -> float | None:
    """``num / den``, or None (undefined) when either side is missing or ``den`` is 0."""
    if num is None or den is None or den == 0.0:
        return None
    return _finite_or_none(num / den)


def compute_metrics_raw(
    returns: Iterable[float], *, rf: float = 0.0, transaction_cost: float = 0.0
) -> dict[str, float | None]:
    """Compute the six metrics of a simple per-period return series (not annualised).

    Non-finite returns are dropped. A metric whose denominator is 0 is ``None``
    ("undefined"), as are results that overflow. ``max_drawdown`` of an empty series is 0.0
    (the equity curve never leaves 1).

    Args:
        returns: per-period simple returns.
        rf: risk-free return per period, subtracted for ``sharpe`` only.
        transaction_cost: cost per period, subtracted from every return.

    Returns:
        A dict keyed by ``METRIC_KEYS`` in that order.

    Raises:
        ValueError: ``rf`` or ``transaction_cost`` is not finite.
    """
    if not (math.isfinite(rf) and math.isfinite(transaction_cost)):
        raise ValueError("rf and transaction_cost must be finite")
    net: list[float] = []
    for r in returns:
        value = float(r)
        if math.isfinite(value):
            net.append(value - transaction_cost)
    n = len(net)

    wins = 0
    gains: list[float] = []
    losses: list[float] = []
    equity = 1.0
    peak = 1.0
    max_dd = 0.0
    for r in net:
        if r > 0.0:
            wins += 1
            gains.append(r)
        elif r < 0.0:
            losses.append(r)
        equity *= 1.0 + r
        if equity > peak:
            peak = equity
        drawdown = equity / peak - 1.0
        if drawdown < max_dd:
            max_dd = drawdown

    sharpe: float | None = None
    if n:
        excess = [r - rf for r in net]
        # A constant series has zero spread; checking min == max avoids float noise in the
        # mean turning "no variance" into a huge sharpe.
        if min(excess) != max(excess):
            mean = _sum(excess) / n
            var = _sum([(x - mean) * (x - mean) for x in excess]) / n
            sharpe = _ratio(_finite_or_none(mean), _finite_or_none(math.sqrt(var)))

    mdd = _finite_or_none(max_dd)
    abs_mdd = abs(mdd) if mdd is not None else None
    loss_sum = abs(_sum(losses)) if losses else 0.0
    return {
        _SHARPE: sharpe,
        _MDD: mdd,
        _WIN: (wins / n) if n else None,
        _PF: _ratio(_finite_or_none(_sum(gains)), _finite_or_none(loss_sum)),
        _CAR: _ratio(_finite_or_none(equity - 1.0), abs_mdd),
        _RAR: _ratio(sharpe, abs_mdd),
    }


def compute_metrics(
    returns: Iterable[float], *, rf: float = 0.0, transaction_cost: float = 0.0
) -> dict[str, float]:
    """Compute the six metrics in their wire form: every value finite, undefined → 0.0.

    Args:
        returns: per-period simple returns (non-finite entries are dropped).
        rf: risk-free return per period.
        transaction_cost: cost subtracted from every return.

    Returns:
        A dict keyed by ``METRIC_KEYS`` with finite float values.
    """
    raw = compute_metrics_raw(returns, rf=rf, transaction_cost=transaction_cost)
    return {key: (0.0 if value is None else value) for key, value in raw.items()}
