"""Plan through a Gateway with the SDK Runner: v2 (with metrics) when the Gateway offers it.

Usage: python docs/examples/sdk_runner.py http://127.0.0.1:8000
"""

from __future__ import annotations

import sys

from app.contracts.rebalancing import PlanV2, PositionSlice, RebalanceRequest
from app.sdk import GatewayClient, Runner, WorldgateError

REQUEST = RebalanceRequest(
    total_equity=100_000.0,
    world_alloc_before={"core": 0.6, "alpha": 0.4},
    world_alloc_after={"core": 0.5, "alpha": 0.5},
    positions=[
        PositionSlice(world_id="core", strategy_id="trend", symbol="BTC", qty=0.5, mark=60_000.0),
        PositionSlice(world_id="alpha", strategy_id="meanrev", symbol="ETH", qty=10.0,
                      mark=3_000.0),
    ],
)
RETURNS = {"core": {"trend": [0.01, -0.02, 0.015, 0.004]},
           "alpha": {"meanrev": [0.003, 0.002, -0.001, 0.006]}}


def main(base_url: str) -> int:
    """Print the negotiated version, the deltas and (v2) the trend strategy's metrics."""
    with GatewayClient(base_url) as client:
        runner = Runner(client, refresh_interval=30.0)
        caps = runner.start()
        print(f"gateway advertises v{caps.advertised_schema_version}, "
              f"alpha_metrics_capable={caps.advertised_alpha_metrics}; "
              f"using v{caps.schema_version}")
        try:
            plan = runner.plan(REQUEST, returns_by_strategy=RETURNS, intent={"note": "docs"})
        except WorldgateError as exc:
            print(f"refused: {exc.code}: {exc.detail}")
            return 1
    for world, world_plan in sorted(plan.per_world.items()):
        for delta in world_plan.deltas:
            print(f"{world}: {delta.symbol} {delta.delta_qty:+g}")
    if isinstance(plan, PlanV2):
        sharpe = plan.alpha_metrics.per_strategy["trend"]["core"]["alpha_performance.sharpe"]
        print(f"trend@core sharpe per period: {sharpe:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000"))
