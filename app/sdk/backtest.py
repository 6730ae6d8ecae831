"""Tiny O(n) backtests over a price series: ``buy_hold`` and ``sma_cross``."""

from __future__ import annotations

from collections.abc import Callable, Sequence

__all__ = ["STRATEGIES", "BacktestError", "backtest", "buy_hold", "sma_cross"]

Progress = Callable[[int], None]
_CHUNK = 50_000


class BacktestError(ValueError):
    """The strategy parameters or the price series cannot be backtested."""


def _tick(progress: Progress | None, i: int) -> None:
    if progress is not None and i and i % _CHUNK == 0:
        progress(_CHUNK)


def buy_hold(
    prices: Sequence[float], progress: Progress | None = None, *, cost: float = 0.0
) -> list[float]:
    """Always fully invested: the strategy return of period t is ``p_t / p_{t-1} - 1``.

    Args:
        prices: the close prices (n ≥ 2).
        progress: called with the number of rows done, every 50 000 rows.
        cost: cost of a position change as a fraction of equity, charged once on entry.

    Returns:
        n - 1 per-period returns.
    """
    out: list[float] = []
    prev = prices[0] if prices else 0.0
    for i in range(1, len(prices)):
        price = prices[i]
        out.append(price / prev - 1.0)
        prev = price
        _tick(progress, i)
    if out:
        out[0] -= cost
    return out


def sma_cross(
    prices: Sequence[float], *, fast: int = 10, slow: int = 30, progress: Progress | None = None,
    cost: float = 0.0,
) -> list[float]:
    """Long when the fast simple moving average is above the slow one, else flat.

    The position held over period t (from ``p_{t-1}`` to ``p_t``) is decided on prices up to
    ``p_{t-1}`` (no look-ahead); until ``slow`` prices exist the strategy is flat. Both
    averages are rolling sums, so the run is O(n).

    Args:
        prices: the close prices.
        fast: fast window (≥ 1).
        slow: slow window (> fast).
        progress: called with the number of rows done, every 50 000 rows.
        cost: cost of a position change (entry or exit) as a fraction of equity, charged to
            the first period with the new position.

    Returns:
        n - 1 per-period returns (0.0 while flat, apart from an exit's cost).

    Raises:
        BacktestError: the windows are not 1 ≤ fast < slow.
    """
    if fast < 1 or slow <= fast:
        raise BacktestError(f"need 1 <= fast < slow, got fast={fast} slow={slow}")
    out: list[float] = []
    fast_sum = slow_sum = 0.0
    long = held = False
    for i, price in enumerate(prices):
        if i > 0:
            ret = price / prices[i - 1] - 1.0 if long else 0.0
            out.append(ret - cost if long != held else ret)
            held = long
        fast_sum += price
        slow_sum += price
        if i >= fast:
            fast_sum -= prices[i - fast]
        if i >= slow:
            slow_sum -= prices[i - slow]
        long = i + 1 >= slow and fast_sum / fast > slow_sum / slow
        _tick(progress, i)
    return out


STRATEGIES = ("buy_hold", "sma_cross")


def backtest(
    prices: Sequence[float],
    strategy: str,
    *,
    fast: int = 10,
    slow: int = 30,
    progress: Progress | None = None,
    cost_bps: float = 0.0,
) -> list[float]:
    """Run a named strategy over prices.

    Args:
        prices: close prices (at least 2).
        strategy: ``buy_hold`` or ``sma_cross``.
        fast: fast SMA window (``sma_cross``).
        slow: slow SMA window (``sma_cross``).
        progress: progress callback (rows done).
        cost_bps: cost of each position change, in basis points of equity (≥ 0).

    Returns:
        The strategy's per-period returns, net of costs.

    Raises:
        BacktestError: unknown strategy, bad windows, a negative cost, or fewer than 2
            prices.
    """
    if len(prices) < 2:
        raise BacktestError("need at least 2 prices to compute a return")
    if not (0.0 <= cost_bps < 10_000.0):
        raise BacktestError(f"cost must be in [0, 10000) bps, got {cost_bps}")
    cost = cost_bps / 10_000.0
    if strategy == "buy_hold":
        return buy_hold(prices, progress, cost=cost)
    if strategy == "sma_cross":
        return sma_cross(prices, fast=fast, slow=slow, progress=progress, cost=cost)
    raise BacktestError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
