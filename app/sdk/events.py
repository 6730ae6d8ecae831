"""The ``WS /events`` stream (websockets): sync and async readers of relayed CloudEvents."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import ExitStack
from types import TracebackType
from typing import Any
from urllib.parse import urlencode

import msgspec
from websockets.asyncio.client import ClientConnection as AsyncConnection
from websockets.asyncio.client import connect as async_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
from websockets.sync.client import ClientConnection, connect

from app.contracts.events import CloudEvent
from app.errors import Code
from app.sdk.calls import auth_headers, error_answer
from app.sdk.errors import SdkError, StreamError, Unauthorized, Unreachable
from app.sdk.wire import decode_event

__all__ = ["AsyncEventStream", "EventStream", "events_url"]


def events_url(
    base_url: str,
    *,
    topics: Sequence[str] = (),
    world_id: str | Sequence[str] | None = None,
    schema_version: int = 1,
    since: int | None = None,
) -> str:
    """Build the ``ws://…/events`` URL for a Gateway root URL.

    Args:
        base_url: the Gateway root (``http(s)://``; turned into ``ws(s)://``).
        topics: topics to receive (all when empty), sent comma-separated.
        world_id: only events of this world (or of these worlds).
        schema_version: the schema version this client reads (1 hides v2 fields).
        since: resume after this sequence number.

    Returns:
        The WebSocket URL.
    """
    root = base_url.rstrip("/")
    if root.startswith("https://"):
        root = "wss://" + root[len("https://") :]
    elif root.startswith("http://"):
        root = "ws://" + root[len("http://") :]
    params: dict[str, Any] = {"schema_version": schema_version}
    if topics:
        params["topics"] = ",".join(topics)
    if world_id is not None:
        params["world_id"] = world_id if isinstance(world_id, str) else ",".join(world_id)
    if since is not None:
        params["since"] = since
    return f"{root}/events?{urlencode(params)}"


_WS_UNAUTHORIZED = 4401


def _refusal(url: str, exc: Exception) -> SdkError:
    """Map a failed WebSocket open to the SDK error that says why."""
    if isinstance(exc, StreamError):  # the server refused the subscription itself
        return exc
    if isinstance(exc, InvalidStatus):  # the handshake got an HTTP answer (401, 404, ...)
        body = bytes(exc.response.body or b"")
        return error_answer(exc.response.status_code, body, body.decode("utf-8", "replace"))
    if isinstance(exc, ConnectionClosed) and exc.rcvd is not None:
        if exc.rcvd.code == _WS_UNAUTHORIZED:
            return Unauthorized(401, Code.UNAUTHORIZED, exc.rcvd.reason or "token required")
        return StreamError(f"E_WS_CLOSE_{exc.rcvd.code}", exc.rcvd.reason or "closed")
    return Unreachable(url, str(exc) or type(exc).__name__)


def _control(raw: str | bytes) -> dict[str, object] | None:
    """A control frame (``{"type": "subscribed"|"gap"|"lagged"|"error", ...}``) or None."""
    try:
        obj = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return None
    # Events carry ``id`` and ``source``; control frames carry neither.
    if isinstance(obj, dict) and isinstance(obj.get("type"), str) and not (
        "id" in obj and "source" in obj
    ):
        return obj
    return None


class _Frames:
    """Sorts incoming messages: events are returned, control frames recorded or raised."""

    def __init__(self) -> None:
        self.subscribed: dict[str, object] | None = None
        self.notices: list[dict[str, object]] = []
        self.last_seq: int | None = None

    def take(self, raw: str | bytes) -> CloudEvent | None:
        frame = _control(raw)
        if frame is not None:
            if frame["type"] == "error":
                raise StreamError(str(frame.get("code", Code.STREAM)), str(frame.get("detail")))
            if frame["type"] == "subscribed":
                self.subscribed = frame
            else:
                self.notices.append(frame)
            return None
        event = decode_event(raw)
        if event is not None and event.seq is not None:
            self.last_seq = event.seq
        return event


class _Stream:
    """What both streams share: the URL, the frame sorter and the events that came early."""

    def __init__(
        self, base_url: str, *, token: str | None = None, open_timeout: float = 10.0,
        **query: Any,
    ) -> None:
        self.url = events_url(base_url, **query)
        self._token = token
        self._open_timeout = open_timeout
        self.frames = _Frames()
        self._early: list[CloudEvent] = []

    @property
    def last_seq(self) -> int | None:
        """The ``seq`` of the last event received (resume from it with ``since``)."""
        return self.frames.last_seq

    def _opening(self, raw: str | bytes) -> None:
        # Events that arrive before the ``subscribed`` frame are kept for the reader.
        event = self.frames.take(raw)
        if event is not None:
            self._early.append(event)

    def _closed(self, exc: WebSocketException) -> Unreachable:
        return Unreachable(self.url, f"connection closed: {exc}")


# What can go wrong while opening a stream (mapped by ``_refusal``).
_OPEN_ERRORS = (StreamError, OSError, WebSocketException, TimeoutError)


class EventStream(_Stream):
    """A blocking ``WS /events`` subscription; use as a context manager.

    Entering waits (up to ``open_timeout``) for the server's ``subscribed`` frame, so every
    event published afterwards is delivered. Control frames are kept in ``frames``; an
    ``error`` frame raises ``StreamError``.

    Args:
        base_url: the Gateway root.
        token: bearer token, when the deployment requires one.
        open_timeout: seconds to connect and be subscribed.
        **query: ``topics``, ``world_id``, ``schema_version``, ``since`` (see ``events_url``).
    """

    _conn: ClientConnection | None = None
    _stack: ExitStack | None = None

    def __enter__(self) -> EventStream:
        self._stack = ExitStack()
        try:
            # Entered as a context manager, as websockets >= 17.1 asks of sync clients.
            self._conn = self._stack.enter_context(
                connect(self.url, additional_headers=auth_headers(self._token),
                        open_timeout=self._open_timeout)
            )
            while self.frames.subscribed is None:
                self._opening(self._conn.recv(timeout=self._open_timeout))
        except _OPEN_ERRORS as exc:
            self.__exit__(None, None, None)
            failure = _refusal(self.url, exc)
            if failure is exc:
                raise
            raise failure from exc
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._conn = None
        if self._stack is not None:
            self._stack.close()

    def next_event(self, timeout: float | None = None) -> CloudEvent:
        """Wait for the next event (control messages are skipped).

        Args:
            timeout: seconds to wait; None waits forever.

        Returns:
            The event; ``last_seq`` follows its ``seq``.

        Raises:
            TimeoutError: nothing arrived in time.
            Unreachable: the connection closed.
        """
        if self._conn is None:
            raise RuntimeError("EventStream is not open; use it in a with block")
        if self._early:
            return self._early.pop(0)
        while True:
            try:
                raw = self._conn.recv(timeout=timeout)
            except WebSocketException as exc:
                raise self._closed(exc) from exc
            event = self.frames.take(raw)
            if event is not None:
                return event


class AsyncEventStream(_Stream):
    """An async ``WS /events`` subscription: ``async with`` it, then ``async for`` events.

    Args:
        base_url: the Gateway root.
        token: bearer token, when required.
        open_timeout: seconds to connect and be subscribed.
        **query: ``topics``, ``world_id``, ``schema_version``, ``since``.
    """

    _conn: AsyncConnection | None = None

    async def __aenter__(self) -> AsyncEventStream:
        try:
            async with asyncio.timeout(self._open_timeout):
                self._conn = await async_connect(
                    self.url, additional_headers=auth_headers(self._token), open_timeout=None
                )
                while self.frames.subscribed is None:
                    self._opening(await self._conn.recv())
        except _OPEN_ERRORS as exc:
            await self.__aexit__(None, None, None)
            failure = _refusal(self.url, exc)
            if failure is exc:
                raise
            raise failure from exc
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    def __aiter__(self) -> AsyncIterator[CloudEvent]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[CloudEvent]:
        if self._conn is None:
            raise RuntimeError("AsyncEventStream is not open; use it in an async with block")
        while self._early:
            yield self._early.pop(0)
        try:
            async for raw in self._conn:
                event = self.frames.take(raw)
                if event is not None:
                    yield event
        except WebSocketException as exc:
            raise self._closed(exc) from exc
