"""Scale-out: applies/s and apply → WebSocket latency, one process vs. WorldService + 2 Gateways.

Setup A: one ``worldgate serve`` process with both roles, in-memory ControlBus, SQLite.
Setup B: one WorldService process and two Gateway processes on Redis Streams and PostgreSQL
(``WORLDGATE_TEST_REDIS_URL`` / ``WORLDGATE_TEST_POSTGRES_DSN``, else the loopback defaults).

Applies go through the Gateways (``POST /rebalancing/apply``; in B alternately through both);
a WebSocket client on every Gateway subscribes to ``rebalancing_planned``. Latency is from
sending an apply to the first event of that run reaching *each* client (so in B half of
the samples crossed from one Gateway to the other through Redis).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from websockets.asyncio.client import connect

from tests.integration.cluster import Node, create_schema, drop_scaleout, scaleout_env

__all__ = ["main"]

WORLDS = 4
POSITIONS = 200
CLIENTS = 4
APPLIES_PER_CLIENT = 100
SEQUENTIAL = 200


def body(run_id: str) -> dict[str, Any]:
    worlds = [f"w{i}" for i in range(WORLDS)]
    before = {w: 1 / WORLDS for w in worlds}
    after = dict(before, w0=before["w0"] + 0.05, w1=before["w1"] - 0.05)
    return {
        "run_id": run_id,
        "total_equity": 1_000_000.0,
        "world_alloc_before": before,
        "world_alloc_after": after,
        "positions": [
            {
                "world_id": worlds[i % WORLDS], "strategy_id": f"s{i % 5}",
                "symbol": f"SYM{i % 50}", "qty": 1.0 + i % 7, "mark": 100.0 + i % 13,
            }
            for i in range(POSITIONS)
        ],
    }


class Listener:
    """A WebSocket client noting when the first event of each run arrived."""

    def __init__(self, gateway: Node) -> None:
        self.url = gateway.ws_url + "/events?topics=rebalancing_planned"
        self.first_seen: dict[str, float] = {}
        self.ready = asyncio.Event()
        self.arrived = asyncio.Event()

    async def run(self) -> None:
        async with connect(self.url, max_queue=None) as ws:
            async for raw in ws:
                message = json.loads(raw)
                if message.get("type") == "subscribed":
                    self.ready.set()
                elif "id" in message:
                    self.first_seen.setdefault(message["data"]["run_id"], time.monotonic())
                    self.arrived.set()
                    self.arrived = asyncio.Event()


async def wait_seen(listeners: list[Listener], run_id: str) -> None:
    for listener in listeners:
        while run_id not in listener.first_seen:
            await listener.arrived.wait()


async def measure(gateways: list[Node]) -> dict[str, float]:
    listeners = [Listener(g) for g in gateways]
    tasks = [asyncio.create_task(lst.run()) for lst in listeners]
    try:
        await asyncio.wait_for(asyncio.gather(*(lst.ready.wait() for lst in listeners)), 20)
        async with httpx.AsyncClient(timeout=30.0) as http:
            tag = uuid.uuid4().hex[:8]

            async def apply(n: int, gateway: Node) -> None:
                url = gateway.url + "/rebalancing/apply"
                response = await http.post(url, json=body(f"{tag}-{n}"))
                response.raise_for_status()

            for n in range(5):  # warm-up
                await apply(-1 - n, gateways[n % len(gateways)])

            async def client(c: int) -> None:
                for i in range(APPLIES_PER_CLIENT):
                    await apply(c * APPLIES_PER_CLIENT + i, gateways[(c + i) % len(gateways)])

            started = time.perf_counter()
            await asyncio.gather(*(client(c) for c in range(CLIENTS)))
            throughput = CLIENTS * APPLIES_PER_CLIENT / (time.perf_counter() - started)

            latencies: list[float] = []
            round_trips: list[float] = []
            for i in range(SEQUENTIAL):
                run_id = f"{tag}-seq-{i}"
                sent = time.monotonic()
                response = await http.post(
                    gateways[i % len(gateways)].url + "/rebalancing/apply", json=body(run_id)
                )
                round_trips.append((time.monotonic() - sent) * 1000)
                response.raise_for_status()
                await asyncio.wait_for(wait_seen(listeners, run_id), 20)
                latencies += [(lst.first_seen[run_id] - sent) * 1000 for lst in listeners]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    latencies.sort()
    return {
        "applies_per_s": throughput,
        "rtt_p50_ms": statistics.median(round_trips),
        "p50_ms": statistics.median(latencies),
        "p99_ms": latencies[int(0.99 * (len(latencies) - 1))],
    }


def run_nodes(nodes: list[Node]) -> None:
    for node in nodes:
        node.start()
    for node in nodes:
        node.wait_ready()


async def single_process(folder: Path) -> dict[str, float]:
    node = Node("single", ["worldservice", "gateway"], {}, folder)
    try:
        await asyncio.to_thread(run_nodes, [node])
        return await measure([node])
    finally:
        await asyncio.to_thread(node.stop)


async def scaled_out(folder: Path, redis_url: str, dsn: str) -> dict[str, float]:
    schema = prefix = f"wgbench_{uuid.uuid4().hex[:8]}"
    env = scaleout_env(redis_url, prefix, await create_schema(dsn, schema))
    env["WORLDGATE__STORE__POSTGRES_POOL_SIZE"] = "10"
    ws = Node("worldservice", ["worldservice"], env, folder)
    url = {"WORLDGATE__GATEWAY__WORLDSERVICE_URL": ws.url + "/worldservice"}
    gateways = [Node(f"gateway{i}", ["gateway"], {**env, **url}, folder) for i in (1, 2)]
    try:
        await asyncio.to_thread(run_nodes, [ws, *gateways])
        return await measure(gateways)
    finally:
        for node in (*gateways, ws):
            await asyncio.to_thread(node.stop)
        await drop_scaleout(dsn, schema, redis_url, prefix)


async def run() -> None:
    redis_url = os.environ.get("WORLDGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    dsn = os.environ.get("WORLDGATE_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
    print(f"body: {POSITIONS} positions over {WORLDS} worlds; throughput: {CLIENTS} clients x "
          f"{APPLIES_PER_CLIENT} applies; latency: {SEQUENTIAL} sequential applies")
    rows: list[tuple[str, dict[str, float]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        rows.append(("memory bus + SQLite, 1 process", await single_process(Path(tmp))))
        try:
            rows.append(
                ("Redis + PostgreSQL, 1 WorldService + 2 Gateways",
                 await scaled_out(Path(tmp), redis_url, dsn))
            )
        except (OSError, asyncpg.PostgresError) as exc:
            print(f"scaled-out setup skipped: {exc}")
    print("| setup | applies/s | apply round trip p50 | apply → WS event p50 | p99 |")
    print("|---|---|---|---|---|")
    for name, r in rows:
        print(
            f"| {name} | {r['applies_per_s']:.1f} | {r['rtt_p50_ms']:.2f} ms"
            f" | {r['p50_ms']:.2f} ms | {r['p99_ms']:.2f} ms |"
        )


def main() -> None:
    """Run both setups and print a markdown table."""
    asyncio.run(run())
