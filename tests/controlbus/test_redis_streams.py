"""Behaviour specific to the Redis Streams ControlBus: ids, retention, reconnects, claims."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest
from redis.asyncio import Redis

from app.contracts.events import EVENT_SOURCE_WORLDSERVICE, CloudEvent, new_event
from app.controlbus.adapters.redis_streams import RedisStreamsControlBus, bus_seq_of
from app.controlbus.ports import BusEnvelope, Subscription
from app.errors import AppError
from tests.controlbus.redis_support import TestRedisBus, make_redis_bus
from tests.services import unique_name

pytestmark = [pytest.mark.anyio, pytest.mark.redis]

T = "topic_t"
WAIT = 10  # seconds: a hang guard, not a speed assertion


def event(n: int) -> CloudEvent:
    return new_event(T, EVENT_SOURCE_WORLDSERVICE, {"n": n})


async def first(sub: Subscription) -> BusEnvelope:
    with anyio.fail_after(WAIT):
        async for envelope in sub:
            return envelope
    raise AssertionError("subscription ended")


@pytest.fixture
async def raw_redis() -> AsyncIterator[Redis]:
    """A plain client on the test server, to inspect or disturb it."""
    bus = make_redis_bus()  # resolves the URL (skips / fails like every Redis test)
    async with Redis.from_url(bus.url) as redis:
        yield redis


def test_bus_seq_of_orders_like_stream_ids() -> None:
    ids = ["1-0", "1-1", "1-999999", "2-0", "1700000000000-3"]
    seqs = [bus_seq_of(i) for i in ids]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert bus_seq_of("1700000000000-3") == 1_700_000_000_000_000_003
    assert bus_seq_of("1700000000000-3") < 2**63


async def test_envelope_names_the_stream_entry(raw_redis: Redis) -> None:
    bus = make_redis_bus()
    await bus.start()
    try:
        envelope = await bus.publish(T, event(1))
        entries = await raw_redis.xrange(f"{bus.prefix}:{T}")
        assert [e[0].decode() for e in entries] == [envelope.receipt]
        assert envelope.bus_seq == bus_seq_of(envelope.receipt)
    finally:
        await bus.close()


async def test_streams_are_trimmed_to_about_maxlen(raw_redis: Redis) -> None:
    bus = make_redis_bus(stream_maxlen=100)
    await bus.start()
    try:
        for i in range(1_000):
            await bus.publish(T, event(i))
        length = await raw_redis.xlen(f"{bus.prefix}:{T}")
        # "MAXLEN ~" trims whole radix-tree nodes: at least maxlen entries stay.
        assert 100 <= length < 1_000
    finally:
        await bus.close()


async def test_subscriptions_survive_a_dropped_connection(raw_redis: Redis) -> None:
    name = unique_name("wgclient")
    base = make_redis_bus()
    bus = TestRedisBus(f"{base.url}?client_name={name}", base.prefix, block_seconds=0.2)
    await bus.start()
    try:
        async with bus.subscribe([T]) as fan, bus.subscribe([T], group="g") as member:
            before = event(1)
            await bus.publish(T, before)
            assert (await first(fan)).event.id == before.id
            got = await first(member)
            await member.ack(got)
            clients = await raw_redis.client_list()
            killed = [c["id"] for c in clients if c.get("name") == name]
            assert killed  # the bus's connections carry the name
            for client_id in killed:
                await raw_redis.client_kill_filter(_id=client_id)
            after = event(2)
            await bus.publish(T, after)
            assert (await first(fan)).event.id == after.id
            assert (await first(member)).event.id == after.id
    finally:
        await bus.close()


async def test_entry_of_a_crashed_member_is_claimed_by_another(raw_redis: Redis) -> None:
    bus = make_redis_bus(claim_idle_seconds=0.3)
    await bus.start()
    try:
        async with bus.subscribe([T], group="g", consumer="alive") as alive:
            ev = event(1)
            await bus.publish(T, ev)
            # A member that takes the entry and dies without acking or leaving cleanly.
            stolen = await raw_redis.xreadgroup("g", "dead", {f"{bus.prefix}:{T}": ">"}, count=1)
            if stolen:  # else "alive" got it first, which is fine too
                assert stolen[0][1][0][1][b"event"]
            got = await first(alive)
            await alive.ack(got)
        assert got.event.id == ev.id
        pending = await raw_redis.xpending(f"{bus.prefix}:{T}", "g")
        assert pending["pending"] == 0
    finally:
        await bus.close()


async def test_member_leaving_cleanly_hands_back_its_entries_at_once() -> None:
    # Claims of silent members wait a minute: only the hand-back can deliver within WAIT.
    bus = make_redis_bus(claim_idle_seconds=60.0)
    await bus.start()
    try:
        ev = event(1)
        async with bus.subscribe([T], group="g", consumer="leaving") as leaving:
            await bus.publish(T, ev)
            assert (await first(leaving)).event.id == ev.id  # taken, never acked
        async with bus.subscribe([T], group="g", consumer="staying") as staying:
            got = await first(staying)
            await staying.ack(got)
        assert got.event.id == ev.id
    finally:
        await bus.close()


async def test_group_lost_by_the_server_is_recreated(raw_redis: Redis) -> None:
    bus = make_redis_bus()
    await bus.start()
    try:
        async with bus.subscribe([T], group="g") as member:
            await raw_redis.delete(f"{bus.prefix}:{T}")  # stream and group gone
            ev = event(1)
            await bus.publish(T, ev)
            got = await first(member)
        assert got.event.id == ev.id
    finally:
        await bus.close()


async def test_unreachable_redis_fails_publish_with_503_and_ping_false() -> None:
    bus = RedisStreamsControlBus("redis://127.0.0.1:1/0", stream_prefix=unique_name("wg"))
    await bus.start()
    try:
        assert await bus.ping() is False
        with pytest.raises(AppError) as info:
            await bus.publish(T, event(1))
        assert info.value.status == 503
    finally:
        await bus.close()


async def test_closed_bus_refuses_publish_and_ends_new_subscriptions() -> None:
    bus = make_redis_bus()
    await bus.start()
    await bus.close()
    assert await bus.ping() is False
    with pytest.raises(AppError):
        await bus.publish(T, event(1))
    async with bus.subscribe([T]) as sub:
        assert [e async for e in sub] == []
