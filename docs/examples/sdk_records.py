"""Read back what was stored: applied plans and submitted executions, page by page.

Usage: python docs/examples/sdk_records.py http://127.0.0.1:8000
"""

from __future__ import annotations

import sys

from app.sdk import GatewayClient


def main(base_url: str) -> int:
    """Print the newest plan, count every plan, and page through executions."""
    with GatewayClient(base_url) as gw:
        page = gw.list_plans(limit=1)  # {"plans": [...], "next": cursor or None}
        if page["plans"]:
            newest = gw.get_plan(page["plans"][0]["run_id"])
            print(f"newest plan {newest['run_id']} touches {newest['world_ids']}")
        print(f"plans in all: {sum(1 for _ in gw.iter_plans(page_size=100))}")
        cursor = None
        while True:  # what iter_executions does for you
            chunk = gw.list_executions(limit=50, cursor=cursor)
            for execution in chunk["executions"]:
                print(f"execution {execution['execution_id']} on {execution['world_ids']}")
            cursor = chunk["next"]
            if cursor is None:
                break
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000"))
