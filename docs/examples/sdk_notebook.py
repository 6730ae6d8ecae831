"""The SDK in a notebook: a plain dict as the request, the plan's version, rows for a frame.

Usage: python docs/examples/sdk_notebook.py http://127.0.0.1:8000
"""

from __future__ import annotations

import logging
import sys

from app.sdk import GatewayClient, Runner, metric_rows, plan_rows

# The SDK logs to the standard `logging` loggers under "app.sdk" and prints nothing itself;
# show its warnings the way you show any library's:
logging.basicConfig(level=logging.WARNING)

request = {  # the wire shape, as in the contract; a RebalanceRequest works the same
    "total_equity": 100_000.0,
    "world_alloc_before": {"core": 0.6, "alpha": 0.4},
    "world_alloc_after": {"core": 0.5, "alpha": 0.5},
    "positions": [
        {"world_id": "core", "strategy_id": "trend", "symbol": "BTC", "qty": 0.5,
         "mark": 60_000.0},
        {"world_id": "alpha", "strategy_id": "meanrev", "symbol": "ETH", "qty": 10.0,
         "mark": 3_000.0},
    ],
}


def main(base_url: str) -> int:
    """Plan a dict through the Runner and print its rows."""
    with GatewayClient(base_url) as gw:
        runner = Runner(gw)
        runner.start()
        plan = runner.plan(request, returns_by_strategy={"core": {"trend": [0.01, -0.02]}})
    print(f"schema_version {plan.schema_version}")
    rows = plan_rows(plan)  # list of dicts: pandas.DataFrame(rows) makes the frame
    for row in rows:
        print(f"{row['scope']} {row['world_id']} {row['symbol']} {row['delta_qty']:+g}")
    for row in metric_rows(plan):  # empty for a v1 plan
        print(f"{row['strategy_id'] or '(world)'}@{row['world_id']} sharpe {row['sharpe']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000"))
