"""Trading states and two-phase execution across two Gateway processes.

Two ``worldgate serve`` processes share one PostgreSQL store and one Redis bus. A state
change made through either is what the other reads right after it is acknowledged, both
relay its ``risk_state_changed`` event, a preview made on one is judged (and submitted) on
the other under the current states, the order-rate buckets are shared, and a restart keeps
everything.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.integration.cluster import Node, create_schema, drop_scaleout, scaleout_env
from tests.services import postgres_dsn, redis_url, unique_name

pytestmark = [pytest.mark.anyio, pytest.mark.multiprocess, pytest.mark.redis, pytest.mark.postgres]

WAIT = 30  # seconds: a hang guard, not a speed assertion
LIVE = {"X-Allow-Live": "true"}
# World core shrinks two positions, world alpha one: three orders, all reduce-only.
BODY: dict[str, Any] = {
    "total_equity": 1000.0,
    "world_alloc_before": {"core": 0.5, "alpha": 0.5},
    "world_alloc_after": {"core": 0.25, "alpha": 0.25},
    "positions": [
        {"world_id": "core", "strategy_id": "s1", "symbol": "X", "qty": 10.0, "mark": 10.0},
        {"world_id": "core", "strategy_id": "s1", "symbol": "Y", "qty": 10.0, "mark": 10.0},
        {"world_id": "alpha", "strategy_id": "s2", "symbol": "X", "qty": 10.0, "mark": 10.0},
    ],
}


class RiskClient:
    """A WebSocket client of topic ``risk`` on one Gateway, keeping every event."""

    def __init__(self, gateway: Node) -> None:
        self.url = gateway.ws_url + "/events?topics=risk"
        self.events: list[dict[str, Any]] = []
        self.subscribed = anyio.Event()
        self._arrived = anyio.Event()

    async def run(self) -> None:
        try:
            async with connect(self.url) as ws:
                async for raw in ws:
                    message = json.loads(raw)
                    if message.get("type") == "subscribed":
                        self.subscribed.set()
                    elif "id" in message:
                        self.events.append(message)
                        self._arrived.set()
                        self._arrived = anyio.Event()
        except (ConnectionClosed, OSError):
            pass  # its Gateway restarted

    async def wait_for(self, count: int) -> list[dict[str, Any]]:
        with anyio.fail_after(WAIT):
            while len(self.events) < count:
                await self._arrived.wait()
        return self.events


@pytest.fixture
async def gateways(tmp_path: Path) -> AsyncIterator[tuple[Node, Node]]:
    """Two processes (both roles) sharing a fresh PostgreSQL schema and Redis prefix."""
    redis, dsn = redis_url(), postgres_dsn()
    schema, prefix = unique_name("wgrisk"), unique_name("wgrisk")
    env = {
        **scaleout_env(redis, prefix, await create_schema(dsn, schema)),
        "WORLDGATE__GATEWAY__RISK__ORDER_RATE_PER_MINUTE": "2",
    }
    nodes = [Node(f"gateway{i}", ["worldservice", "gateway"], env, tmp_path) for i in (1, 2)]
    try:
        for node in nodes:
            node.start()
        for node in nodes:
            await anyio.to_thread.run_sync(node.wait_ready)
        yield nodes[0], nodes[1]
    finally:
        for node in nodes:
            await anyio.to_thread.run_sync(node.kill)
        await drop_scaleout(dsn, schema, redis, prefix)


def denied(answer: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(d["world_id"], d["symbol"], d["code"]) for d in answer["denied"]]


async def test_two_gateways_share_states_previews_buckets_and_events(
    gateways: tuple[Node, Node],
) -> None:
    g1, g2 = gateways
    c1, c2 = RiskClient(g1), RiskClient(g2)
    async with httpx.AsyncClient(timeout=10.0) as http, anyio.create_task_group() as tg:
        tg.start_soon(c1.run)
        tg.start_soon(c2.run)
        with anyio.fail_after(WAIT):
            await c1.subscribed.wait()
            await c2.subscribed.wait()

        # 1. A preview on g1, then alpha is halted through g2.
        first = await http.post(g1.url + "/rebalancing/execute", json=BODY)
        assert first.status_code == 200, first.text
        preview = first.json()
        assert preview["status"] == "completed" and len(preview["orders_per_world"]) == 2
        halted = await http.put(
            g2.url + "/risk/worlds/alpha", json={"state": "HALTED", "reason": "cluster drill"}
        )
        assert halted.status_code == 200, halted.text

        # 2. g1 reads the new state right after g2 acknowledged it (one store, no cache).
        seen = (await http.get(g1.url + "/risk/state")).json()
        assert seen["worlds"]["alpha"]["state"] == "HALTED"
        assert seen["worlds"]["alpha"]["etag"] == halted.json()["etag"]

        # 3. Both Gateways relay the one event.
        e1, e2 = (await c1.wait_for(1))[0], (await c2.wait_for(1))[0]
        assert e1["id"] == e2["id"] and e1["type"] == "risk_state_changed"
        assert e1["data"]["world_id"] == "alpha" and e1["data"]["state"] == "HALTED"

        # 4. The pending preview's submit on g1 is 412 with a fresh preview.
        submit = await http.post(
            f"{g1.url}/rebalancing/executions/{preview['execution_id']}/submit",
            headers={**LIVE, "If-Match": preview["etag"]},
        )
        assert submit.status_code == 412, submit.text
        fresh = submit.json()["preview"]
        assert denied(fresh) == [("alpha", "X", "WORLD_HALTED")]
        assert list(fresh["orders_per_world"]) == ["core"]

        # 5. The fresh preview, stored by g1, is submitted through g2.
        done = await http.post(
            f"{g2.url}/rebalancing/executions/{fresh['execution_id']}/submit",
            headers={**LIVE, "If-Match": fresh["etag"]},
        )
        assert done.status_code == 200, done.text
        assert done.json()["state"] == "submitted"

        # 6. The order-rate bucket of core (2 a minute) was spent through g2: g1 sees it.
        later = (await http.post(g1.url + "/rebalancing/execute", json=BODY)).json()
        assert sorted(denied(later)) == [
            ("alpha", "X", "WORLD_HALTED"),
            ("core", "X", "RATE_LIMITED"),
            ("core", "Y", "RATE_LIMITED"),
        ]
        assert later["status"] == "rejected"

        # 7. A restart of g1 keeps the state and its etag.
        await anyio.to_thread.run_sync(g1.stop)
        g1.start()
        await anyio.to_thread.run_sync(g1.wait_ready)
        again = (await http.get(g1.url + "/risk/worlds/alpha")).json()
        assert again["state"] == "HALTED" and again["etag"] == halted.json()["etag"]
        assert again["reason"] == "cluster drill"

        # 8. Resumed through the restarted g1: g2's client hears it (g1's client left with
        # the old process).
        resumed = await http.put(
            g1.url + "/risk/worlds/alpha",
            json={"state": "ACTIVE", "reason": "drill over"},
            headers={"If-Match": again["etag"]},
        )
        assert resumed.status_code == 200, resumed.text
        second = (await c2.wait_for(2))[1]
        assert second["data"]["state"] == "ACTIVE" and second["data"]["previous_state"] == "HALTED"
        assert (await http.get(g2.url + "/risk/worlds/alpha")).json()["state"] == "ACTIVE"
        history = (await http.get(g2.url + "/risk/history?world_id=alpha")).json()["changes"]
        assert [c["reason"] for c in history] == ["drill over", "cluster drill"]
        tg.cancel_scope.cancel()
