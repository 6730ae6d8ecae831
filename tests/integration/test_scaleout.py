"""One WorldService and two Gateway processes on Redis Streams and PostgreSQL.

WebSocket clients on both Gateways must receive every ``rebalancing_planned`` event of
every acknowledged apply, whichever Gateway took it — exactly once after dedupe by event
id — while a Gateway is killed and WorldService is killed and restarted mid-stream.
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

WORLDS = ("alpha", "beta", "gamma")
WAIT = 30  # seconds: a hang guard, not a speed assertion
Pair = tuple[str, str]  # (run_id, world_id)


def apply_body(run_id: str, step: int) -> dict[str, Any]:
    before = {w: 1 / len(WORLDS) for w in WORLDS}
    after = dict(before, alpha=before["alpha"] + 0.01 * (step % 7 + 1))
    after["gamma"] = 1 - after["alpha"] - after["beta"]
    return {
        "run_id": run_id,
        "total_equity": 1_000_000.0,
        "world_alloc_before": before,
        "world_alloc_after": after,
        "positions": [
            {"world_id": w, "strategy_id": "s1", "symbol": "BTCUSDT", "qty": 1.0 + i, "mark": 100.0}
            for i, w in enumerate(WORLDS)
        ],
    }


class Client:
    """A WebSocket client on one Gateway, keeping every event frame it receives."""

    def __init__(self, gateway: Node) -> None:
        self.url = gateway.ws_url + "/events?topics=rebalancing_planned"
        self.frames: list[dict[str, Any]] = []
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
                        self.frames.append(message)
                        self._arrived.set()
                        self._arrived = anyio.Event()
        except (ConnectionClosed, OSError):
            pass  # its Gateway was killed

    def pairs(self) -> dict[Pair, set[str]]:
        """(run_id, world_id) -> the distinct event ids received for it."""
        out: dict[Pair, set[str]] = {}
        for frame in self.frames:
            data = frame["data"]
            out.setdefault((data["run_id"], data["world_id"]), set()).add(frame["id"])
        return out

    async def wait_for(self, expected: set[Pair]) -> None:
        with anyio.fail_after(WAIT):
            while True:
                arrived = self._arrived
                if expected <= self.pairs().keys():
                    return
                await arrived.wait()


async def apply(http: httpx.AsyncClient, gateway: Node, run_id: str, step: int) -> set[Pair]:
    """Apply through ``gateway`` until acknowledged (same run_id: retries are idempotent)."""
    with anyio.fail_after(WAIT):
        while True:
            try:
                response = await http.post(
                    gateway.url + "/rebalancing/apply", json=apply_body(run_id, step)
                )
            except httpx.TransportError:
                await anyio.sleep(0.1)
                continue
            if response.status_code in (502, 503, 504):  # WorldService restarting
                await anyio.sleep(0.1)
                continue
            assert response.status_code == 200, response.text
            return {(run_id, w) for w in response.json()["per_world"]}


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[tuple[Node, Node, Node]]:
    """WorldService + two Gateways sharing a fresh PostgreSQL schema and Redis prefix."""
    redis, dsn = redis_url(), postgres_dsn()
    schema, prefix = unique_name("wgtest"), unique_name("wgtest")
    env = {
        **scaleout_env(redis, prefix, await create_schema(dsn, schema)),
        "WORLDGATE__OUTBOX__LEASE_SECONDS": "2",  # a killed publisher's lease ends soon
    }
    worldservice = Node("worldservice", ["worldservice"], env, tmp_path)
    ws_url = {"WORLDGATE__GATEWAY__WORLDSERVICE_URL": worldservice.url + "/worldservice"}
    gateways = [Node(f"gateway{i}", ["gateway"], {**env, **ws_url}, tmp_path) for i in (1, 2)]
    nodes = [worldservice, *gateways]
    try:
        for node in nodes:
            node.start()
        for node in nodes:
            await anyio.to_thread.run_sync(node.wait_ready)
        yield worldservice, gateways[0], gateways[1]
    finally:
        for node in nodes:
            await anyio.to_thread.run_sync(node.kill)
        await drop_scaleout(dsn, schema, redis, prefix)


async def test_every_gateway_client_gets_every_acknowledged_apply_once(
    cluster: tuple[Node, Node, Node],
) -> None:
    worldservice, g1, g2 = cluster
    c1, c2 = Client(g1), Client(g2)
    expected: set[Pair] = set()
    async with httpx.AsyncClient(timeout=10.0) as http, anyio.create_task_group() as tg:
        tg.start_soon(c1.run)
        tg.start_soon(c2.run)
        with anyio.fail_after(WAIT):
            await c1.subscribed.wait()
            await c2.subscribed.wait()

        # 1. Applies through either Gateway reach the clients of both.
        for step in range(6):
            expected |= await apply(http, (g1, g2)[step % 2], f"both-{step}", step)
        await c1.wait_for(expected)
        await c2.wait_for(expected)

        # 2. A Gateway dies: the other Gateway's client misses nothing.
        await anyio.to_thread.run_sync(g2.kill)
        for step in range(3):
            expected |= await apply(http, g1, f"after-kill-{step}", step)

        # 3. WorldService is killed right after acknowledging an apply (its events may be
        # unpublished or leased) and restarted on the same port while applies go on.
        expected |= await apply(http, g1, "before-crash", 0)
        await anyio.to_thread.run_sync(worldservice.kill)
        worldservice.start()

        async def keep_applying() -> set[Pair]:
            acked: set[Pair] = set()
            for step in range(5):
                acked |= await apply(http, g1, f"during-restart-{step}", step)
            return acked

        expected |= await keep_applying()
        await anyio.to_thread.run_sync(worldservice.wait_ready)
        await c1.wait_for(expected)
        tg.cancel_scope.cancel()

    assert len(expected) == (6 + 3 + 1 + 5) * len(WORLDS)
    received = c1.pairs()
    assert received.keys() == expected  # nothing lost, nothing foreign
    assert all(len(ids) == 1 for ids in received.values())  # one event id per world per apply
    before_kill = {p for p in expected if p[0].startswith("both-")}
    assert c2.pairs().keys() >= before_kill
    assert all(len(ids) == 1 for ids in c2.pairs().values())
