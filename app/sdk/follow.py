"""Follow ``WS /events`` across disconnects: reconnect and resume after the last ``seq``.

The stream remembers the ``seq`` of the last event it handed out (before the first event:
the ``latest_seq`` of the server's ``subscribed`` frame) and reconnects with ``since`` set to
it, after a dropped connection, a server restart or a ``lagged`` notice, waiting 0.2 s and
doubling up to 5 s between attempts. The server replays what was missed from its event
log, so no event is lost or repeated while the log retains it (a ``gap`` notice says when
it does not).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Sequence

from app.contracts.events import CloudEvent
from app.sdk.errors import Unreachable
from app.sdk.events import EventStream

__all__ = ["Notice", "follow_events"]

Notice = Callable[[str, str], None]
"""Told ``(kind, detail)``: ``connected``, ``reconnecting``, ``gap`` or ``lagged``."""


def _ignore(kind: str, detail: str) -> None:
    """The default notice sink: the caller did not ask."""


def follow_events(
    base_url: str,
    *,
    token: str | None = None,
    topics: Sequence[str] = (),
    world_ids: Sequence[str] = (),
    schema_version: int = 1,
    since: int | None = None,
    reconnect: bool = True,
    idle_timeout: float | None = None,
    open_timeout: float = 10.0,
    backoff: tuple[float, float] = (0.2, 5.0),
    on_notice: Notice = _ignore,
    sleep: Callable[[float], None] = time.sleep,
) -> Generator[CloudEvent, None, None]:
    """Yield matching events as they come, resuming after every disconnect.

    Args:
        base_url: the Gateway root.
        token: bearer token, when the deployment requires one.
        topics: topics to receive (all when empty).
        world_ids: worlds to receive (all when empty).
        schema_version: the schema version this reader reads.
        since: start after this ``seq`` (replayed from the event log); None = live events.
        reconnect: False makes a lost connection end the iteration with ``Unreachable``.
        idle_timeout: end the iteration when no event came for this many seconds (None:
            never).
        open_timeout: seconds to connect and be subscribed.
        backoff: first and largest wait between reconnection attempts, in seconds.
        on_notice: told about connections, reconnections and ``gap``/``lagged`` notices.
        sleep: how to wait (tests may pass their own).

    Raises:
        Unreachable: the server cannot be reached and ``reconnect`` is False.
        Unauthorized, StreamError: the server refused the subscription (never retried).
    """
    resume = since
    delay = backoff[0]
    while True:
        try:
            with EventStream(base_url, token=token, topics=list(topics),
                             world_id=list(world_ids) or None, schema_version=schema_version,
                             since=resume, open_timeout=open_timeout) as stream:
                if resume is None:
                    latest = (stream.frames.subscribed or {}).get("latest_seq")
                    if isinstance(latest, int) and not isinstance(latest, bool):
                        resume = latest
                on_notice("connected", f"{stream.url} (after seq {resume})")
                delay = backoff[0]
                seen = 0
                while True:
                    try:
                        event = stream.next_event(timeout=idle_timeout)
                    except TimeoutError:
                        return
                    lagged = False
                    for frame in stream.frames.notices[seen:]:
                        lagged = lagged or frame.get("type") == "lagged"
                        on_notice(str(frame.get("type")), str(frame))
                    seen = len(stream.frames.notices)
                    if lagged:
                        # The server's queue for us overflowed: reconnect after the last
                        # event handed out, so the log replays the missed ones (and this).
                        break
                    if event.seq is not None:
                        if resume is not None and event.seq <= resume:
                            continue  # already handed out before a reconnect
                        resume = event.seq
                    yield event
        except Unreachable as exc:
            if not reconnect:
                raise
            on_notice("reconnecting", f"{exc.reason}; retrying in {delay:g}s")
            sleep(delay)
            delay = min(delay * 2, backoff[1])
