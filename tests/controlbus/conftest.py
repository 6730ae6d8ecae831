"""ControlBus adapters under contract test: add a networked adapter's factory to BUS_FACTORIES."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from app.controlbus.adapters.memory import MemoryControlBus
from app.controlbus.ports import ControlBus
from tests.controlbus.redis_support import make_redis_bus

BusFactory = Callable[[], Awaitable[ControlBus]]

# Small buffers so the contract suite also exercises full subscribers.
CONTRACT_BUFFER = 64


async def _memory() -> ControlBus:
    return MemoryControlBus(subscriber_buffer=CONTRACT_BUFFER)


# name -> async factory of an unstarted bus, isolated from every other test (unique
# stream prefix, own database, ...). A factory may call ``pytest.skip`` when its server
# is not available.
async def _redis() -> ControlBus:
    return make_redis_bus(subscriber_buffer=CONTRACT_BUFFER)


BUS_FACTORIES: dict[str, BusFactory] = {"memory": _memory, "redis": _redis}


@pytest.fixture(params=sorted(BUS_FACTORIES))
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[ControlBus]:
    """A started bus of every registered adapter; closed after the test."""
    instance = await BUS_FACTORIES[request.param]()
    await instance.start()
    try:
        yield instance
    finally:
        await instance.close()
