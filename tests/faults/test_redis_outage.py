"""Redis goes away during applies: every apply is acknowledged, and every event is
published once Redis is back (the outbox holds them meanwhile)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import anyio
import httpx
import msgspec
import pytest
from redis.asyncio import Redis

from app.contracts.events import REBALANCING_PLANNED
from app.testing import ServerProcess, settings_env
from tests.faults.proxy import FaultProxy
from tests.gateway.factories import request_body
from tests.services import redis_url, unique_name

pytestmark = [pytest.mark.anyio, pytest.mark.multiprocess, pytest.mark.redis]

APPLY = "/worldservice/rebalancing/apply"


@dataclass
class Rig:
    server: ServerProcess
    proxy: FaultProxy
    redis: Redis
    stream: str


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    url, prefix = redis_url(), unique_name("wgfault")
    parts = urlsplit(url)
    with FaultProxy(parts.hostname or "127.0.0.1", parts.port or 6379) as proxy:
        via = parts._replace(netloc=proxy.address).geturl()
        server = ServerProcess(
            settings_env({
                "controlbus": {"backend": "redis", "redis_url": via, "stream_prefix": prefix},
                "store": {"sqlite_path": str(tmp_path / "db.sqlite3")},
                "server": {"log_format": "json"},
                "gateway": {"health_cache_seconds": 0.2},
            }),
            log_path=tmp_path / "server.log",
        )
        server.start()
        redis = Redis.from_url(url)
        try:
            await anyio.to_thread.run_sync(server.wait_ready)
            yield Rig(server, proxy, redis, f"{prefix}:{REBALANCING_PLANNED}")
        finally:
            await anyio.to_thread.run_sync(server.stop)
            keys = [key async for key in redis.scan_iter(match=f"{prefix}:*")]
            if keys:
                await redis.delete(*keys)
            await redis.aclose()


async def _eventually(check: Callable[[], Awaitable[bool]], seconds: float) -> None:
    """Poll ``check`` until it is true; fail after ``seconds``."""
    with anyio.fail_after(seconds):
        while True:
            if await check():
                return
            await anyio.sleep(0.1)


async def _published_ids(rig: Rig) -> list[str]:
    entries = await rig.redis.xrange(rig.stream)
    return [msgspec.json.decode(fields[b"event"])["id"] for _, fields in entries]


async def _event_ids(client: httpx.AsyncClient) -> set[str]:
    plans = (await client.get("/worldservice/rebalancing/plans?limit=1000")).json()["plans"]
    return {event["id"] for plan in plans for event in plan["events"]}


async def test_applies_during_a_redis_outage_are_all_published_once_it_returns(
    rig: Rig,
) -> None:
    async with httpx.AsyncClient(base_url=rig.server.url, timeout=30.0) as client:
        for i in range(3):
            assert (await client.post(APPLY, json=request_body(run_id=f"before-{i}"))
                    ).status_code == 200
        async def first_six() -> bool:  # 3 applies x 2 worlds
            return len(set(await _published_ids(rig))) == 6

        await _eventually(first_six, 30)

        rig.proxy.cut()  # Redis unreachable: connections reset, new ones refused
        for i in range(10):
            answer = await client.post(APPLY, json=request_body(run_id=f"during-{i}"))
            assert answer.status_code == 200, answer.text  # acknowledged = stored
        async def bus_down() -> bool:
            return bool((await client.get("/health")).json()["controlbus"] == "down")

        await _eventually(bus_down, 20)
        assert len(set(await _published_ids(rig))) == 6  # nothing got through meanwhile

        rig.proxy.heal()
        expected = await _event_ids(client)
        assert len(expected) == 26
        async def all_published() -> bool:
            return expected <= set(await _published_ids(rig))

        await _eventually(all_published, 40)
        assert set(await _published_ids(rig)) == expected

        # Redis stops answering without closing anything: still acknowledged, then published.
        rig.proxy.stall()
        for i in range(5):
            answer = await client.post(APPLY, json=request_body(run_id=f"stalled-{i}"))
            assert answer.status_code == 200, answer.text
        await anyio.sleep(1.0)
        rig.proxy.heal()
        expected = await _event_ids(client)
        assert len(expected) == 36
        await _eventually(all_published, 40)
        assert set(await _published_ids(rig)) == expected  # at least once; ids are stable
        assert (await client.get("/ready")).status_code == 200
