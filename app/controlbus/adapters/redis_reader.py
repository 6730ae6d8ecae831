"""The reading side of the Redis Streams ControlBus: one subscription and its reader task."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import anyio
import msgspec
import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from app.contracts.events import CloudEvent
from app.controlbus.ports import BusEnvelope

__all__ = ["RedisSubscription", "StreamNames"]

log = structlog.get_logger(__name__)

_BATCH = 100
_MIN_BACKOFF = 0.05
_MAX_BACKOFF = 2.0
# Idle time given to the entries a member hands back when it leaves: far above any
# claim_idle_seconds, so the next XAUTOCLAIM of another member takes them.
_HANDBACK_IDLE_MS = 10**10


class StreamNames:
    """Names the stream of a topic: ``<prefix>:<topic>``."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def key(self, topic: str) -> str:
        """Return the stream key of ``topic``."""
        return f"{self.prefix}:{topic}"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisSubscription:
    """A fan-out subscription or a group member; a reader task fills its bounded buffer.

    Args:
        redis: the client (None when the bus is closed: the subscription ends at once).
        names: maps topics to stream keys.
        topics: the topics read.
        group: consumer group name, or None for fan-out.
        consumer: this member's name (a unique one is made up when None).
        buffer: envelopes buffered before the reader waits.
        block_seconds: longest blocking read.
        claim_idle_seconds: idle time after which another member's entry is claimed.
        seq_of: maps an entry id to ``bus_seq``.
    """

    def __init__(
        self,
        redis: Redis | None,
        names: StreamNames,
        topics: Sequence[str],
        *,
        group: str | None,
        consumer: str | None,
        buffer: int,
        block_seconds: float,
        claim_idle_seconds: float,
        seq_of: Callable[[str], int],
    ) -> None:
        self.topics = tuple(dict.fromkeys(topics))
        self.group = group
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._redis = redis
        self._names = names
        self._topic_of = {names.key(t): t for t in self.topics}
        self._positions: dict[str, str] = {}
        self._group_start = "$"
        self._prepared = False
        self._released = False
        self._block_ms = max(1, int(block_seconds * 1000))
        self._claim_idle_ms = max(1, int(claim_idle_seconds * 1000))
        self._next_claim = 0.0
        self._seq_of = seq_of
        self._decoder = msgspec.json.Decoder(CloudEvent)
        self._scope = anyio.CancelScope()
        # A group member reads one entry only when its consumer asks for one, so entries
        # are not parked with a busy member while another member idles.
        self._wanted = anyio.Event()
        self._send, self._receive = anyio.create_memory_object_stream[BusEnvelope](
            max_buffer_size=buffer if group is None else 1
        )

    def __aiter__(self) -> RedisSubscription:
        return self

    async def __anext__(self) -> BusEnvelope:
        self._wanted.set()
        try:
            return await self._receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            raise StopAsyncIteration from None

    async def ack(self, envelope: BusEnvelope) -> None:
        """``XACK`` the envelope in this member's group (no-op for fan-out).

        A failed ack is logged, not raised: the entry is simply delivered again later.
        """
        if self.group is None or self._redis is None:
            return
        try:
            await self._redis.xack(self._names.key(envelope.topic), self.group, envelope.receipt)
        except (RedisError, OSError) as exc:
            log.warning("controlbus_ack_failed", topic=envelope.topic, error=str(exc))

    async def prepare(self) -> None:
        """Create the group (fan-out: note each stream's last entry) before reading."""
        assert self._redis is not None
        if self.group is not None:
            for key in self._topic_of:
                try:
                    await self._redis.xgroup_create(
                        key, self.group, id=self._group_start, mkstream=True
                    )
                except ResponseError as exc:
                    if "BUSYGROUP" not in str(exc):
                        raise
        else:
            for key in self._topic_of:
                last = await self._redis.xrevrange(key, "+", "-", count=1)
                self._positions[key] = _text(last[0][0]) if last else "0-0"
        self._prepared = True

    async def run(self) -> None:
        """Read until ended, retrying with exponential backoff when Redis is unreachable."""
        backoff = _MIN_BACKOFF
        try:
            with self._scope:
                while True:
                    try:
                        if not self._prepared:
                            await self.prepare()
                        if self.group is None:
                            await self._fanout_round()
                        else:
                            await self._group_round()
                        backoff = _MIN_BACKOFF
                    except ResponseError as exc:
                        if self.group is not None and "NOGROUP" in str(exc):
                            # The server lost the group (restart without persistence):
                            # re-create it from the start of what the stream still holds.
                            log.warning("controlbus_group_recreated", group=self.group)
                            self._group_start, self._prepared = "0", False
                            continue
                        log.error("controlbus_reader_error", error=str(exc), retry_in=backoff)
                        await anyio.sleep(backoff)
                        backoff = min(backoff * 2, _MAX_BACKOFF)
                    except (RedisError, OSError) as exc:
                        log.warning(
                            "controlbus_reader_reconnecting", error=str(exc), retry_in=backoff
                        )
                        await anyio.sleep(backoff)
                        backoff = min(backoff * 2, _MAX_BACKOFF)
        finally:
            self._send.close()

    async def _fanout_round(self) -> None:
        assert self._redis is not None
        streams: Any = self._positions
        response: Any = await self._redis.xread(streams, count=_BATCH, block=self._block_ms)
        for raw_key, entries in response or ():
            key = _text(raw_key)
            for raw_id, fields in entries:
                entry_id = _text(raw_id)
                self._positions[key] = entry_id
                await self._deliver(key, entry_id, fields)

    async def _group_round(self) -> None:
        assert self._redis is not None and self.group is not None
        await self._wanted.wait()
        now = anyio.current_time()
        if now >= self._next_claim:
            # Claim again at once while there is something to claim, else once per block.
            self._next_claim = now + self._block_ms / 1000
            for key in self._topic_of:
                claimed: Any = await self._redis.xautoclaim(
                    key,
                    self.group,
                    self.consumer,
                    min_idle_time=self._claim_idle_ms,
                    start_id="0-0",
                    count=1,
                )
                for raw_id, fields in claimed[1]:
                    self._next_claim = now
                    await self._deliver(key, _text(raw_id), fields)
                    return
        response: Any = await self._redis.xreadgroup(
            self.group,
            self.consumer,
            dict.fromkeys(self._topic_of, ">"),
            count=1,
            block=self._block_ms,
        )
        for raw_key, entries in response or ():
            key = _text(raw_key)
            for raw_id, fields in entries:
                await self._deliver(key, _text(raw_id), fields)

    async def _deliver(self, key: str, entry_id: str, fields: dict[bytes, bytes] | None) -> None:
        topic = self._topic_of[key]
        raw = fields.get(b"event") if fields else None
        try:
            if raw is None:
                raise msgspec.DecodeError("no event field")
            event = self._decoder.decode(raw)
        except msgspec.DecodeError as exc:
            log.error("controlbus_entry_malformed", topic=topic, entry_id=entry_id, error=str(exc))
            if self.group is not None and self._redis is not None:
                await self._redis.xack(key, self.group, entry_id)  # never deliverable
            return
        envelope = BusEnvelope(
            topic=topic, bus_seq=self._seq_of(entry_id), event=event, receipt=entry_id
        )
        if self.group is not None:
            self._wanted = anyio.Event()  # the next __anext__ asks again
        await self._send.send(envelope)

    def end(self) -> None:
        """Stop the reader; the iterator ends after the envelopes already buffered."""
        self._scope.cancel()
        self._send.close()

    async def release(self) -> None:
        """Hand this member's un-acked entries back to its group (no-op for fan-out)."""
        if self.group is None or self._redis is None or self._released or not self._prepared:
            return
        self._released = True
        with anyio.move_on_after(2.0, shield=True):
            try:
                for key in self._topic_of:
                    pending = await self._redis.xpending_range(
                        key, self.group, min="-", max="+", count=10_000,
                        consumername=self.consumer,
                    )
                    ids: Any = [p["message_id"] for p in pending]
                    if ids:
                        await self._redis.xclaim(
                            key, self.group, self.consumer, min_idle_time=0,
                            message_ids=ids, idle=_HANDBACK_IDLE_MS, justid=True,
                        )
            except (RedisError, OSError) as exc:
                log.warning("controlbus_release_failed", group=self.group, error=str(exc))

    def close(self) -> None:
        """Close both ends of the buffer (the subscriber left)."""
        self._send.close()
        self._receive.close()
