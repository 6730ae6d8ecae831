"""The exactly-once scenario of ``WS /events``: processes apply plans as fast as they can while
WebSocket clients disconnect and resume at random; every client must end up with exactly the
events of the log that match its subscription, once each, in ``seq`` order."""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from app.store.ports import StoredEvent
from app.testing import ServerProcess

__all__ = ["LogRow", "Subscriber", "publish_until", "run_scenario"]

WAIT = 45.0  # seconds: a hang guard, not a speed assertion
WORLDS = tuple(f"w{i}" for i in range(20))
WORLD_COUNTS = (1, 2, 3, 20, 20, 20)  # events per apply: small and large transactions mixed


@dataclass(frozen=True)
class LogRow:
    """What a client should have got for one event of the log."""

    seq: int
    event_id: str
    topic: str
    world_id: str


def log_rows(stored: Sequence[StoredEvent]) -> list[LogRow]:
    """Turn the store's log into rows (the world is the payload's ``world_id``)."""
    rows = []
    for item in stored:
        data: Any = item.event.data
        world = data.get("world_id") if isinstance(data, dict) else data.world_id
        rows.append(LogRow(item.seq, item.event.id, item.topic, world))
    return rows


def apply_body(run_id: str, worlds: Sequence[str]) -> dict[str, Any]:
    """An apply whose plan changes every world in ``worlds`` (one event per world)."""
    share = 1 / len(worlds)
    after = {w: share * (0.5 if i % 2 else 1.5) for i, w in enumerate(worlds)}
    if len(worlds) % 2:
        after[worlds[-1]] = share
    if len(worlds) == 1:
        after = {worlds[0]: 0.5}
    return {
        "run_id": run_id,
        "total_equity": 1_000_000.0,
        "world_alloc_before": dict.fromkeys(worlds, share),
        "world_alloc_after": after,
        "positions": [
            {"world_id": w, "strategy_id": "s1", "symbol": "BTCUSDT", "qty": 1.0, "mark": 100.0}
            for w in worlds
        ],
    }


@dataclass
class Subscriber:
    """A WebSocket client that drops its connection at random and resumes with ``since``."""

    url: str
    query: str
    worlds: frozenset[str] | None
    schema_version: int
    rng: random.Random
    #: The most events read on one connection (each connection reads 1..this many).
    max_budget: int = 150
    received: list[tuple[int, str]] = field(default_factory=list)
    frames: list[dict[str, Any]] = field(default_factory=list)
    connections: int = 0
    lagged: int = 0
    problems: list[str] = field(default_factory=list)
    phase: str = "idle"

    @property
    def last(self) -> int:
        return self.received[-1][0] if self.received else 0

    def wants(self, row: LogRow) -> bool:
        return self.worlds is None or row.world_id in self.worlds

    async def run(self, stop: Callable[[], bool]) -> None:
        """Connect, read a random number of events, drop the connection, resume; repeat
        until ``stop()`` says everything expected has arrived."""
        while not stop():
            budget = self.rng.randint(1, self.max_budget)
            url = f"{self.url}/events?{self.query}&since={self.last}"
            try:
                self.phase = "connecting"
                # max_queue=None: with a bounded queue the library stops reading the socket
                # once we stop consuming, and its closing handshake then waits for a close
                # frame stuck behind unread events.
                async with connect(url, max_size=None, max_queue=None, open_timeout=WAIT) as ws:
                    self.connections += 1
                    self.phase = "reading"
                    async for raw in ws:
                        message = json.loads(raw)
                        kind = message.get("type")
                        if "id" in message:
                            self._check(message)
                            budget -= 1
                            if budget <= 0 or stop():
                                break
                        elif kind == "lagged":  # the documented reaction: resume
                            self.lagged += 1
                            break
                        elif kind in ("gap", "error"):
                            self.problems.append(raw if isinstance(raw, str) else raw.decode())
                    self.phase = "closing"
                    if self.rng.random() < 0.3:
                        ws.transport.abort()  # drop the TCP connection, no closing handshake
            except (ConnectionClosed, OSError):
                pass
            await anyio.sleep(self.rng.random() * 0.05)

    def _check(self, message: dict[str, Any]) -> None:
        seq, event_id = message["seq"], message["id"]
        if self.schema_version == 1 and "alpha_metrics" in message["data"]:
            self.problems.append(f"v1 client got a v2 field at seq {seq}")
        if self.worlds is not None and message["data"]["world_id"] not in self.worlds:
            self.problems.append(f"foreign world at seq {seq}")
        self.received.append((seq, event_id))


async def publish_until(
    http: httpx.AsyncClient, url: str, prefix: str, target: int, counter: list[int]
) -> None:
    """Apply plans through ``url`` until ``counter[0]`` events were acknowledged overall."""
    rng = random.Random(prefix)
    for n in itertools.count():
        if counter[0] >= target:
            return
        worlds = rng.sample(WORLDS, rng.choice(WORLD_COUNTS))
        body = apply_body(f"{prefix}-{n}", worlds)
        response = await http.post(url + "/worldservice/rebalancing/apply", json=body)
        assert response.status_code == 200, response.text
        counter[0] += len(response.json()["per_world"])


async def run_scenario(
    servers: Sequence[ServerProcess],
    read_log: Callable[[], Awaitable[list[LogRow]]],
    *,
    target_events: int,
    publishers_per_server: int = 3,
    seed: int = 15,
) -> tuple[list[LogRow], list[Subscriber]]:
    """Publish ``target_events`` through every server at once while ten clients (spread
    over the servers) disconnect and resume at random; return the log and the clients."""
    rng = random.Random(seed)
    shapes: list[tuple[str, frozenset[str] | None, int, int]] = [
        ("topics=rebalancing_planned,rebalancing_orders", None, 1, 150),
        ("schema_version=2", None, 2, 150),
        ("world_id=w0,w1,w2,w3", frozenset({"w0", "w1", "w2", "w3"}), 1, 40),
        ("world_id=w19&schema_version=2", frozenset({"w19"}), 2, 12),
        ("topics=rebalancing_planned", None, 1, 150),
    ]
    clients = [
        Subscriber(servers[i % len(servers)].ws_url, q, w, v, random.Random(rng.random()), b)
        for i, (q, w, v, b) in enumerate(shapes * 2)
    ]
    expected: dict[int, int] | None = None  # client index -> last seq it must reach

    def done(index: int) -> Callable[[], bool]:
        return lambda: expected is not None and clients[index].last >= expected[index]

    counter = [0]
    async with httpx.AsyncClient(timeout=30.0) as http, anyio.create_task_group() as tg:
        for i, client in enumerate(clients):
            tg.start_soon(client.run, done(i))
        with anyio.fail_after(WAIT):
            async with anyio.create_task_group() as publishers:
                for s, server in enumerate(servers):
                    for p in range(publishers_per_server):
                        publishers.start_soon(
                            publish_until, http, server.url, f"p{s}-{p}", target_events, counter
                        )
        rows = await read_log()
        expected = {
            i: max((r.seq for r in rows if c.wants(r)), default=0) for i, c in enumerate(clients)
        }
        with anyio.move_on_after(WAIT):
            while not all(done(i)() for i in range(len(clients))):  # noqa: ASYNC110
                await anyio.sleep(0.05)  # clients poll `done` between messages too
        behind = {
            i: (c.last, expected[i], len(c.received), c.connections, c.lagged, c.phase)
            for i, c in enumerate(clients)
            if not done(i)()
        }
        assert not behind, f"behind (last, expected, received, connections, lagged): {behind}"
        tg.cancel_scope.cancel()  # clients wait for events that will not come
    return rows, clients
