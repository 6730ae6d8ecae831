"""Events: read one over WS /events, resume after it, then follow across disconnects.

Usage: python docs/examples/sdk_events.py http://127.0.0.1:8000
"""

from __future__ import annotations

import sys
import uuid

from app.contracts.rebalancing import PositionSlice, RebalanceRequest
from app.sdk import EventStream, GatewayClient, follow_events


def _request(world: str) -> RebalanceRequest:
    return RebalanceRequest(
        total_equity=1_000.0, world_alloc_before={world: 0.5}, world_alloc_after={world: 0.25},
        positions=[PositionSlice(world_id=world, strategy_id="s", symbol="X", qty=5.0,
                                 mark=100.0)],
    )


def main(base_url: str) -> int:
    """Apply two plans and show how a reader gets, resumes and follows their events."""
    world = f"docs-{uuid.uuid4().hex[:8]}"
    with GatewayClient(base_url) as gw:
        with EventStream(base_url, topics=["rebalancing_planned"], world_id=world,
                         schema_version=2) as stream:
            gw.apply(_request(world), run_id=f"{world}-1")
            event = stream.next_event(timeout=30)  # CloudEvent: id, type, data, seq, ...
            print(f"got {event.type} for {event.data['world_id']}")
            last = stream.last_seq
        gw.apply(_request(world), run_id=f"{world}-2")
    # Later: `since` replays what came after the last event seen, then goes on live.
    with EventStream(base_url, topics=["rebalancing_planned"], world_id=world,
                     since=last) as stream:
        print(f"resumed: {stream.next_event(timeout=30).data['run_id']}")
    # follow_events reconnects by itself after any disconnect and never repeats an event;
    # idle_timeout ends it once the stream is quiet (leave it out to follow for ever).
    for followed in follow_events(base_url, world_ids=[world], since=0, idle_timeout=1.0):
        print(f"followed: {followed.data['run_id']} (seq {followed.seq})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000"))
