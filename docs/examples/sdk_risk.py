"""Previews, submits and trading states: execute → preview → submit, halt and resume.

Usage: python docs/examples/sdk_risk.py http://127.0.0.1:8000
"""

from __future__ import annotations

import sys
import uuid

from app.contracts.rebalancing import PositionSlice, RebalanceRequest
from app.sdk import GatewayClient, PreconditionFailed


def _request(world: str) -> RebalanceRequest:
    return RebalanceRequest(
        total_equity=100_000.0, world_alloc_before={world: 0.5},
        world_alloc_after={world: 0.25},
        positions=[PositionSlice(world_id=world, strategy_id="s", symbol="BTC", qty=1.0,
                                 mark=50_000.0)],
    )


def main(base_url: str, token: str | None = None) -> int:
    """Preview and submit an execution, then halt the world, see it denied, resume it."""
    world = f"docs-{uuid.uuid4().hex[:8]}"
    with GatewayClient(base_url, token=token) as gw:
        preview = gw.execute(_request(world))  # state "previewed", execution_id, etag
        print(f"preview {preview.state} {preview.status}, denied {len(preview.denied)}")
        try:
            done = gw.submit_preview(preview, allow_live=True)  # exactly the previewed orders
            print(f"submitted {done.execution_id == preview.execution_id}")
        except PreconditionFailed as exc:  # the orders would differ now
            print(f"refused; review the fresh preview {exc.preview}")
        halted = gw.halt("fat finger (INC-4711)", world_id=world)  # reduce(), resume()
        denied = gw.execute(_request(world))  # every order of the world is denied now
        print(f"{halted.state}: {denied.status}, {denied.denied[0].code}")
        state = gw.world_state(world)
        gw.set_risk_state("ACTIVE", "over", world_id=world, etag=state.etag)  # If-Match
        print(f"now {gw.risk_state().worlds[world].state}")
        history = gw.risk_history(world_id=world, limit=50)  # newest first
        print(f"history: {[c.state for c in history.changes]}")
        print(f"stored: {gw.get_execution(preview.execution_id or '').state}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000"))
