"""A Redis ControlBus for tests: a unique stream prefix, its keys deleted on close."""

from __future__ import annotations

from redis.asyncio import Redis

from app.controlbus.adapters.redis_streams import RedisStreamsControlBus
from tests.services import redis_url, unique_name

__all__ = ["TestRedisBus", "make_redis_bus"]


class TestRedisBus(RedisStreamsControlBus):
    """Deletes every stream under its prefix when closed, so tests leave Redis clean."""

    __test__ = False  # not a pytest test class

    def __init__(self, url: str, prefix: str, **kwargs: float | int) -> None:
        super().__init__(url, stream_prefix=prefix, **kwargs)  # type: ignore[arg-type]
        self.url = url
        self.prefix = prefix

    async def close(self) -> None:
        await super().close()
        async with Redis.from_url(self.url) as redis:
            keys = [key async for key in redis.scan_iter(match=f"{self.prefix}:*")]
            if keys:
                await redis.delete(*keys)


def make_redis_bus(**kwargs: float | int) -> TestRedisBus:
    """An unstarted bus on the test server (skips/fails as ``tests.services`` says)."""
    kwargs.setdefault("block_seconds", 0.2)
    kwargs.setdefault("claim_idle_seconds", 5.0)
    return TestRedisBus(redis_url(), unique_name("wgtest"), **kwargs)
