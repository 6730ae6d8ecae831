"""Dry-run an execution against a Gateway: read /health, then POST /rebalancing/execute.

Usage: python docs/examples/execute_dry_run.py http://127.0.0.1:8000
"""

from __future__ import annotations

import sys

import httpx

BODY = {
    "total_equity": 100_000.0,
    "world_alloc_before": {"a": 0.5, "b": 0.5},
    "world_alloc_after": {"a": 0.25, "b": 0.5},
    "positions": [
        {"world_id": "a", "strategy_id": "s1", "symbol": "BTC", "qty": 2.0, "mark": 1000.0},
        {"world_id": "a", "strategy_id": "s2", "symbol": "ETH", "qty": -10.0, "mark": 100.0},
        {"world_id": "b", "strategy_id": "s3", "symbol": "BTC", "qty": 1.0, "mark": 1000.0},
    ],
}


def main(base_url: str) -> int:
    """Print the Gateway's capability bits and the orders of a dry run."""
    with httpx.Client(base_url=base_url, timeout=30.0) as client:
        health = client.get("/health").json()
        print(f"gateway: schema v{health['rebalance_schema_version']}, "
              f"alpha_metrics_capable={health['alpha_metrics_capable']}, {health['status']}")
        body = dict(BODY)
        if health["rebalance_schema_version"] >= 2 and health["alpha_metrics_capable"]:
            body["schema_version"] = 2
        response = client.post("/rebalancing/execute", json=body)
        if response.status_code != 200:
            print(f"error {response.status_code}: {response.json()['detail']}")
            return 1
        answer = response.json()
        print(f"negotiated schema v{answer['rebalance_schema_version']}")
        for world, orders in answer["orders_per_world"].items():
            for order in orders:
                flag = " reduce_only" if order.get("reduce_only") else ""
                print(f"{world}: {order['side']} {abs(order['quantity'])} {order['symbol']}{flag}")
        for dropped in answer["dropped"]:
            print(f"dropped {dropped['symbol']} in {dropped['world_id']}: {dropped['reason']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000"))
