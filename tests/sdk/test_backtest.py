"""Backtests: buy_hold and sma_cross (no look-ahead, O(n) rolling sums)."""

from __future__ import annotations

import pytest

from app.sdk.backtest import BacktestError, backtest, buy_hold, sma_cross


def test_buy_hold_is_the_price_return() -> None:
    assert buy_hold([100.0, 110.0, 99.0]) == pytest.approx([0.1, -0.1])


def _naive_sma_cross(prices: list[float], fast: int, slow: int) -> list[float]:
    out = []
    for t in range(1, len(prices)):
        seen = prices[:t]
        long = len(seen) >= slow and sum(seen[-fast:]) / fast > sum(seen[-slow:]) / slow
        out.append(prices[t] / prices[t - 1] - 1 if long else 0.0)
    return out


def test_sma_cross_matches_a_naive_rescan() -> None:
    prices = [100, 101, 103, 102, 105, 107, 104, 101, 99, 98, 100, 104, 108, 107, 109, 103.0]
    assert sma_cross(prices, fast=2, slow=4) == pytest.approx(_naive_sma_cross(prices, 2, 4))


def test_sma_cross_is_flat_until_the_slow_window_fills() -> None:
    rising = [float(p) for p in range(1, 20)]
    out = sma_cross(rising, fast=2, slow=5)
    assert out[:4] == [0.0] * 4 and all(r > 0 for r in out[4:])


def test_progress_is_reported() -> None:
    seen: list[int] = []
    backtest([1.0 + (i % 7) / 10 for i in range(120_001)], "sma_cross", progress=seen.append)
    assert sum(seen) == 100_000


@pytest.mark.parametrize(
    ("prices", "strategy", "kw", "message"),
    [([1.0], "buy_hold", {}, "at least 2"), ([1.0, 2.0], "moon", {}, "unknown strategy"),
     ([1.0, 2.0], "sma_cross", {"fast": 5, "slow": 5}, "fast < slow")],
)
def test_bad_backtests(prices: list[float], strategy: str, kw: dict[str, int],
                       message: str) -> None:
    with pytest.raises(BacktestError, match=message):
        backtest(prices, strategy, **kw)
