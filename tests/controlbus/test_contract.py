"""The ControlBus contract, run against every adapter in ``conftest.BUS_FACTORIES``."""

from __future__ import annotations

import anyio
import pytest

from app.contracts.events import EVENT_SOURCE_WORLDSERVICE, CloudEvent, new_event
from app.controlbus.ports import BusEnvelope, ControlBus, Subscription
from tests.controlbus.bus_support import WAIT, receive

pytestmark = pytest.mark.anyio

A = "topic_a"
B = "topic_b"


def event(n: int, topic: str = A) -> CloudEvent:
    return new_event(topic, EVENT_SOURCE_WORLDSERVICE, {"n": n}, subject=f"w{n}")


async def test_fan_out_delivers_every_event_to_every_subscriber(bus: ControlBus) -> None:
    async with bus.subscribe([A]) as one, bus.subscribe([A]) as two:
        sent = [event(i) for i in range(5)]
        for ev in sent:
            await bus.publish(A, ev)
        got_one = await receive(one, 5)
        got_two = await receive(two, 5)
    assert [e.event for e in got_one] == sent
    assert [e.event for e in got_two] == sent


async def test_subscriber_sees_only_events_published_after_it_subscribed(bus: ControlBus) -> None:
    await bus.publish(A, event(0))
    async with bus.subscribe([A]) as sub:
        later = event(1)
        await bus.publish(A, later)
        (first,) = await receive(sub, 1)
    assert first.event.id == later.id


async def test_topic_filtering(bus: ControlBus) -> None:
    async with bus.subscribe([A]) as only_a, bus.subscribe([A, B]) as both:
        b_event, a_event = event(1, B), event(2, A)
        await bus.publish(B, b_event)
        await bus.publish(A, a_event)
        (first_a,) = await receive(only_a, 1)
        got_both = await receive(both, 2)
    assert first_a.event.id == a_event.id and first_a.topic == A
    assert {e.event.id for e in got_both} == {a_event.id, b_event.id}
    assert {e.topic for e in got_both} == {A, B}


async def test_order_ids_and_per_topic_sequence(bus: ControlBus) -> None:
    async with bus.subscribe([A, B]) as sub:
        sent: list[tuple[str, CloudEvent]] = []
        returned: list[BusEnvelope] = []
        for i in range(30):
            topic = A if i % 3 else B
            ev = event(i, topic)
            sent.append((topic, ev))
            returned.append(await bus.publish(topic, ev))
        got = await receive(sub, 30)
    for topic in (A, B):
        mine = [e for e in got if e.topic == topic]
        assert [e.event.id for e in mine] == [ev.id for t, ev in sent if t == topic]
        seqs = [e.bus_seq for e in mine]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        # The publish result names the same envelope the subscriber gets.
        assert seqs == [r.bus_seq for r in returned if r.topic == topic]
        # Order is per topic only: the port promises nothing across topics.
        assert [e.event for e in mine] == [ev for t, ev in sent if t == topic]


async def test_event_survives_the_bus_unchanged(bus: ControlBus) -> None:
    ev = CloudEvent(
        id="fixed-id", source="s", type=A, subject="w", time="2026-01-01T00:00:00+00:00",
        data={"nested": {"x": [1.5, None, "y"]}}, seq=42,
        specversion="1.0",
    )
    async with bus.subscribe([A]) as sub:
        await bus.publish(A, ev)
        (got,) = await receive(sub, 1)
    assert got.event == ev


async def test_group_members_split_events(bus: ControlBus) -> None:
    received: dict[str, list[str]] = {"m1": [], "m2": []}
    first_taken = anyio.Event()
    second_taken = anyio.Event()

    async def member(name: str, sub: Subscription) -> None:
        with anyio.fail_after(WAIT):
            async for envelope in sub:
                received[name].append(envelope.event.id)
                await sub.ack(envelope)
                if not first_taken.is_set():
                    first_taken.set()
                    # Busy with the first event: the group must hand the next one to the
                    # other member.
                    await second_taken.wait()
                else:
                    second_taken.set()
                return

    async with (
        bus.subscribe([A], group="g", consumer="m1") as m1,
        bus.subscribe([A], group="g", consumer="m2") as m2,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(member, "m1", m1)
        tg.start_soon(member, "m2", m2)
        e1, e2 = event(1), event(2)
        await bus.publish(A, e1)
        with anyio.fail_after(WAIT):
            await first_taken.wait()
        await bus.publish(A, e2)
    assert sorted(received["m1"] + received["m2"]) == sorted([e1.id, e2.id])
    assert len(received["m1"]) == len(received["m2"]) == 1


async def test_group_redelivers_unacked_events_to_another_member(bus: ControlBus) -> None:
    e1, e2, e3 = event(1), event(2), event(3)
    async with bus.subscribe([A], group="g", consumer="first") as first:
        await bus.publish(A, e1)
        await bus.publish(A, e2)
        got = await receive(first, 2)
        await first.ack(got[0])  # e1 done; e2 taken but never acked: the member "dies"
    assert [g.event.id for g in got] == [e1.id, e2.id]
    async with bus.subscribe([A], group="g", consumer="second") as second:
        again = await receive(second, 1)
        await second.ack(again[0])
        await bus.publish(A, e3)
        after = await receive(second, 1)
    assert again[0].event.id == e2.id
    assert after[0].event.id == e3.id  # e1 was acked: never delivered again


async def test_two_groups_each_get_every_event(bus: ControlBus) -> None:
    async with (
        bus.subscribe([A], group="g1", consumer="c") as g1,
        bus.subscribe([A], group="g2", consumer="c") as g2,
    ):
        ev = event(1)
        await bus.publish(A, ev)
        (one,) = await receive(g1, 1)
        (two,) = await receive(g2, 1)
    assert one.event.id == two.event.id == ev.id


async def test_close_ends_open_subscriptions(bus: ControlBus) -> None:
    ended: list[str] = []

    async def drain(name: str, sub: Subscription) -> None:
        async for _ in sub:
            pass
        ended.append(name)

    async with bus.subscribe([A]) as fan, bus.subscribe([A], group="g", consumer="c") as member:
        with anyio.fail_after(WAIT):
            async with anyio.create_task_group() as tg:
                tg.start_soon(drain, "fan", fan)
                tg.start_soon(drain, "group", member)
                await anyio.wait_all_tasks_blocked()
                await bus.close()
    assert sorted(ended) == ["fan", "group"]


async def test_ping(bus: ControlBus) -> None:
    assert await bus.ping() is True


async def test_full_subscriber_does_not_block_publish_or_others(bus: ControlBus) -> None:
    count, batch = 200, 16  # more than the contract buffer of the subscriber that never reads
    got: list[BusEnvelope] = []
    batch_read = [anyio.Event()]
    async with bus.subscribe([A]), bus.subscribe([A]) as reader:

        async def read() -> None:
            with anyio.fail_after(WAIT):
                async for envelope in reader:
                    got.append(envelope)
                    if len(got) % batch == 0 or len(got) == count:
                        batch_read[0].set()
                    if len(got) == count:
                        return

        async with anyio.create_task_group() as tg:
            tg.start_soon(read)
            with anyio.fail_after(WAIT):
                for start in range(0, count, batch):
                    for i in range(start, min(start + batch, count)):
                        await bus.publish(A, event(i))
                    await batch_read[0].wait()  # the reader stays within its buffer
                    batch_read[0] = anyio.Event()
    assert len(got) == count
    assert len({e.event.id for e in got}) == count
