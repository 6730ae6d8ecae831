"""A small built-in rebalance request with realized returns and a policy (used by rehearse
and rollout)."""

from __future__ import annotations

from app.contracts.policy import Band, CashPolicy, CostModel, Costs, RebalancePolicy
from app.contracts.rebalancing import PositionSlice, RebalanceRequest

__all__ = ["sample_policy", "sample_request", "sample_returns", "sample_world_returns"]


def sample_request(prefix: str = "") -> RebalanceRequest:
    """A two-world request: ``<prefix>core`` 0.6 → 0.5 and ``<prefix>alpha`` 0.4 → 0.5.

    Args:
        prefix: prepended to the world ids (rollout uses a unique one per run).

    Returns:
        A request without any v2 fields (the Runner adds them).
    """
    core, alpha = f"{prefix}core", f"{prefix}alpha"
    return RebalanceRequest(
        total_equity=1_000_000.0,
        world_alloc_before={core: 0.6, alpha: 0.4},
        world_alloc_after={core: 0.5, alpha: 0.5},
        positions=[
            PositionSlice(world_id=core, strategy_id="trend", symbol="BTCUSDT", qty=4.0,
                          mark=60_000.0, venue="binance"),
            PositionSlice(world_id=core, strategy_id="carry", symbol="ETHUSDT", qty=40.0,
                          mark=3_000.0, venue="binance"),
            PositionSlice(world_id=alpha, strategy_id="meanrev", symbol="BTCUSDT", qty=2.0,
                          mark=60_000.0, venue="binance"),
            PositionSlice(world_id=alpha, strategy_id="meanrev", symbol="SOLUSDT", qty=1_000.0,
                          mark=150.0, venue="binance"),
        ],
        lot_size_by_symbol={"BTCUSDT": 0.001, "ETHUSDT": 0.01, "SOLUSDT": 0.1},
        min_trade_notional=10.0,
    )


def sample_returns(prefix: str = "") -> dict[str, dict[str, list[float]]]:
    """Realized per-period returns ``{world: {strategy: returns}}`` for ``sample_request``."""
    return {
        f"{prefix}core": {
            "trend": [0.012, -0.004, 0.021, -0.015, 0.008, 0.003, -0.007, 0.016],
            "carry": [0.002, 0.001, 0.003, -0.001, 0.002, 0.002, -0.002, 0.001],
        },
        f"{prefix}alpha": {
            "meanrev": [-0.006, 0.011, 0.004, -0.009, 0.013, -0.002, 0.007, 0.005],
        },
    }


def sample_world_returns(prefix: str = "") -> dict[str, list[float]]:
    """Realized per-period returns of each world of ``sample_request`` (its book as a whole)."""
    return {
        f"{prefix}core": [0.009, -0.002, 0.016, -0.011, 0.006, 0.003, -0.005, 0.012],
        f"{prefix}alpha": [-0.004, 0.008, 0.003, -0.007, 0.01, -0.001, 0.005, 0.004],
    }


def sample_policy() -> RebalancePolicy:
    """A v3 policy for ``sample_request`` that exercises every rule: a band, a turnover cap
    the sample exceeds, a cash budget its buys exceed, and a cost model."""
    return RebalancePolicy(
        band=Band(abs=0.0005),
        max_turnover=0.05,
        cash=CashPolicy(available=10_000.0, buffer=0.01),
        costs=Costs(default=CostModel(fee_bps=5.0, slippage_bps=2.0, min_fee=1.0)),
    )
