"""The Gateway client: health, plan, apply (idempotent by run_id), a dry-run execute, errors.

Usage: python docs/examples/sdk_client.py http://127.0.0.1:8000
"""

from __future__ import annotations

import sys
import uuid

from app.contracts.rebalancing import PositionSlice, RebalanceRequest
from app.sdk import GatewayClient, InvalidRequest

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


def main(base_url: str) -> int:
    """Print the capability bits, a plan, a stored plan, the orders and a typed refusal."""
    with GatewayClient(base_url, token=None, timeout=10.0) as gw:
        health = gw.health()  # GatewayHealth: the capability bits, `raw` keeps the body
        print(f"gateway v{health.rebalance_schema_version}, status {health.status}")
        plan = gw.plan(REQUEST)  # PlanV1 or PlanV2; plan.schema_version says which
        print(f"plan v{plan.schema_version}: core scale {plan.per_world['core'].scale_world:g}")
        run_id = f"docs-{uuid.uuid4().hex[:8]}"
        stored = gw.apply(REQUEST, run_id=run_id)  # the same run_id again: the same answer
        print(f"applied {stored.run_id == run_id}")
        orders = gw.execute(REQUEST, submit=False)  # ExecuteResponse (a dry run)
        print(f"orders for {sorted(orders.orders_per_world)}")
        try:
            gw.plan({"total_equity": -1, "world_alloc_before": {}, "world_alloc_after": {},
                     "positions": []})
        except InvalidRequest as exc:  # every refusal is a typed WorldgateError
            print(f"refused: {exc.status} {exc.code}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000"))
