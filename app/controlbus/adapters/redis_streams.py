"""ControlBus on Redis Streams: one stream per topic, fan-out reads and consumer groups.

Layout and delivery policy:

* Topic ``t`` lives in the stream ``<stream_prefix>:<t>``; ``publish`` is ``XADD ... MAXLEN ~
  stream_maxlen`` with the JSON event in the field ``event``. Retention is bounded: a reader
  that falls more than ``stream_maxlen`` entries behind loses the trimmed entries and can
  re-read them from the store's event log.
* ``bus_seq`` is derived from the stream entry id ``<ms>-<n>`` as ``ms * 1_000_000 + n``:
  it increases per topic in publish order (Redis ids are monotone per stream) and fits in a
  signed 64-bit integer. ``receipt`` is the entry id itself.
* **Fan-out** (no group): ``XREAD BLOCK`` from the last entry that existed when the
  subscription opened, each subscription tracking its own position per stream; a reader
  task fills a bounded buffer (``subscriber_buffer``) and waits when it is full, so a slow
  subscriber never slows the publisher and never loses events still in the stream.
* **Groups**: ``XGROUP CREATE ... $ MKSTREAM`` on first use, ``XREADGROUP`` for new entries,
  ``XACK`` on ``ack``. Entries a member took but never acked are re-delivered to some member
  through ``XAUTOCLAIM`` once idle for ``claim_idle_seconds`` (a crashed member). A member
  that leaves cleanly marks its pending entries idle so the others claim them at once.
* Reader tasks survive Redis restarts and network blips: connection errors are retried with
  exponential backoff (50 ms doubling to 2 s); a group lost with the server is re-created
  from the start of its stream (at-least-once: consumers dedupe by ``event.id``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import anyio
import msgspec
import structlog
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from app.contracts.events import CloudEvent
from app.controlbus.adapters.redis_reader import RedisSubscription, StreamNames
from app.controlbus.ports import BusEnvelope
from app.errors import Code, ServiceUnavailableError
from app.runtime.lifecycle import Component

__all__ = ["RedisStreamsControlBus", "RedisSubscription", "bus_seq_of"]

log = structlog.get_logger(__name__)

_TRANSIENT = (RedisConnectionError, RedisTimeoutError, OSError)
_PING_TIMEOUT = 1.0


def bus_seq_of(entry_id: str) -> int:
    """Map a stream entry id ``<ms>-<n>`` to the integer ``ms * 1_000_000 + n``."""
    millis, _, count = entry_id.partition("-")
    return int(millis) * 1_000_000 + int(count or 0)


class RedisStreamsControlBus(Component):
    """The Redis Streams ControlBus adapter (see the module docstring for the policy).

    Args:
        redis_url: the server, e.g. ``redis://127.0.0.1:6379/0``.
        stream_prefix: prefix of the stream keys (``<prefix>:<topic>``).
        stream_maxlen: approximate number of entries each stream keeps.
        subscriber_buffer: envelopes buffered per subscription before its reader waits.
        block_seconds: longest wait of one blocking read (bounds how late a member sees
            entries to claim).
        claim_idle_seconds: how long a group entry stays with a silent member before
            another member claims it.
    """

    def __init__(
        self,
        redis_url: str,
        *,
        stream_prefix: str = "worldgate",
        stream_maxlen: int = 100_000,
        subscriber_buffer: int = 10_000,
        block_seconds: float = 1.0,
        claim_idle_seconds: float = 30.0,
    ) -> None:
        self._url = redis_url
        self._names = StreamNames(stream_prefix)
        self._maxlen = stream_maxlen
        self._buffer = subscriber_buffer
        self._block = block_seconds
        self._claim_idle = claim_idle_seconds
        self._redis: Redis | None = None
        self._subs: set[RedisSubscription] = set()
        self._closed = True
        self._encoder = msgspec.json.Encoder()

    def _client(self) -> Redis:
        if self._redis is None or self._closed:
            raise ServiceUnavailableError(
                "The control bus is closed.", code=Code.CONTROLBUS_UNAVAILABLE
            )
        return self._redis

    async def start(self) -> None:
        """Create the connection pool (connections open on first use)."""
        if not self._closed:
            return
        self._redis = Redis.from_url(
            self._url,
            socket_timeout=self._block + 5.0,
            socket_connect_timeout=2.0,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 3),
        )
        self._closed = False

    async def close(self) -> None:
        """End every open subscription, hand back un-acked group entries, close the pool."""
        if self._closed:
            return
        self._closed = True
        subs = list(self._subs)
        self._subs.clear()
        for sub in subs:
            sub.end()
        for sub in subs:
            await sub.release()
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None


    async def ping(self) -> bool:
        """Return True when Redis answers ``PING`` within a second."""
        if self._redis is None or self._closed:
            return False
        try:
            with anyio.fail_after(_PING_TIMEOUT):
                return bool(await self._redis.ping())
        except (TimeoutError, RedisError, OSError):
            return False

    async def publish(self, topic: str, event: CloudEvent) -> BusEnvelope:
        """Append ``event`` to the topic's stream (``XADD MAXLEN ~``).

        Raises:
            ServiceUnavailableError: the bus is closed or Redis cannot be reached.
        """
        redis = self._client()
        try:
            raw = await redis.xadd(
                self._names.key(topic),
                {b"event": self._encoder.encode(event)},
                maxlen=self._maxlen,
                approximate=True,
            )
        except _TRANSIENT as exc:
            log.warning("controlbus_publish_failed", topic=topic, error=str(exc))
            raise ServiceUnavailableError(
                "The control bus (Redis) is unreachable.", code=Code.CONTROLBUS_UNAVAILABLE
            ) from exc
        entry_id = raw.decode() if isinstance(raw, bytes) else str(raw)
        return BusEnvelope(topic=topic, bus_seq=bus_seq_of(entry_id), event=event, receipt=entry_id)

    def subscribe(
        self,
        topics: Sequence[str],
        *,
        group: str | None = None,
        consumer: str | None = None,
    ) -> AbstractAsyncContextManager[RedisSubscription]:
        """Open a fan-out subscription, or join consumer group ``group`` as ``consumer``."""
        return self._open(topics, group, consumer)

    @asynccontextmanager
    async def _open(
        self, topics: Sequence[str], group: str | None, consumer: str | None
    ) -> AsyncIterator[RedisSubscription]:
        sub = RedisSubscription(
            self._redis,
            self._names,
            topics,
            group=group,
            consumer=consumer,
            buffer=self._buffer,
            block_seconds=self._block,
            claim_idle_seconds=self._claim_idle,
            seq_of=bus_seq_of,
        )
        if self._closed or self._redis is None:
            sub.end()
            try:
                yield sub
            finally:
                sub.close()
            return
        try:
            await sub.prepare()
        except (*_TRANSIENT, ResponseError) as exc:
            # The reader retries the set-up; events published meanwhile may be missed by a
            # fan-out subscription (they remain in the store's event log).
            log.warning("controlbus_subscribe_deferred", topics=list(topics), error=str(exc))
        self._subs.add(sub)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(sub.run)
                try:
                    yield sub
                finally:
                    sub.end()
        finally:
            self._subs.discard(sub)
            if not self._closed:
                await sub.release()
            sub.close()

