"""Connection guards for uvicorn's HTTP/1.1 protocols: slow and idle clients are cut off.

uvicorn times out idle keep-alive connections but not a request whose headers never finish
(or whose body stops half-way): a thousand half-sent requests can hold a thousand
connections, and the file descriptors behind them, for as long as their senders like. The
guarded protocol gives every request ``header_timeout`` seconds to send its request line
and headers and allows at most ``body_timeout`` seconds of silence inside a body; a
connection beyond ``max_connections`` gets an immediate JSON 503. Each cut is counted
(``worldgate_http_connections_closed_total{reason}``) and logged, at most once a second.

Both of uvicorn's HTTP/1.1 protocols are guarded alike: httptools' (a C parser, what
``worldgate serve`` uses when it is installed, as the ``server`` extra does) and h11's (pure
Python, the fallback).
"""

from __future__ import annotations

import asyncio
import time
from abc import ABCMeta, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import h11
import msgspec
import structlog
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.h11_impl import H11Protocol

from app.errors import Code

__all__ = [
    "ConnectionLimits",
    "LogThrottle",
    "guarded_h11_protocol",
    "guarded_httptools_protocol",
    "guarded_protocol",
]

log = structlog.get_logger(__name__)

Counter = Callable[[str], None]
"""Counts one closed connection under a reason (``header_timeout``, ``body_timeout``,
``over_limit``)."""


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """What a connection may cost the server.

    Attributes:
        header_timeout: seconds to send a request's line and headers, from the moment the
            connection is ready for a request (opened, or the previous answer sent).
        body_timeout: the longest silence inside a request body, in seconds.
        max_connections: open connections (HTTP and WebSocket) beyond which a new one is
            answered 503 at once and closed.
    """

    header_timeout: float
    body_timeout: float
    max_connections: int


class LogThrottle:
    """Lets one log line through per ``every`` seconds and counts the ones held back."""

    def __init__(self, every: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.every = every
        self.clock = clock
        self.suppressed = 0
        self._last = -float("inf")

    def ready(self) -> int | None:
        """None to stay quiet; else how many lines were held back since the last one."""
        now = self.clock()
        if now - self._last < self.every:
            self.suppressed += 1
            return None
        held, self.suppressed, self._last = self.suppressed, 0, now
        return held


def _raw_answer(status: int, reason: str, code: str, detail: str) -> bytes:
    """A complete ``Connection: close`` answer with the JSON error body, as raw bytes (sent
    where no request was parsed, so h11 has no response state to send it with)."""
    body = msgspec.json.encode({"status": status, "code": code, "detail": detail})
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


_REASONS = {"headers": "header_timeout", "body": "body_timeout"}
_OVER_LIMIT = _raw_answer(
    503, "Service Unavailable", Code.SERVICE_UNAVAILABLE,
    "The server has too many open connections (server.max_connections); retry shortly.",
)
_TIMED_OUT = _raw_answer(
    408, "Request Timeout", Code.REQUEST_TIMEOUT,
    "The request was not sent in time (server.header_timeout / server.body_timeout).",
)


@dataclass(frozen=True, slots=True)
class _Policy:
    limits: ConnectionLimits
    count: Counter
    gate: LogThrottle


class _Guard(asyncio.Protocol, metaclass=ABCMeta):
    """The guard shared by both parsers' protocols: a timer armed for the phase the
    client's request is in (its headers, its body, or none), a cut that counts and logs.

    A subclass says which phase the client is in (``_waiting_for``) and whether an answer
    may still be written (``_may_answer``); it calls ``_watch`` when data arrives and
    when an answer is complete.
    """

    policy: ClassVar[_Policy]
    _timer: asyncio.TimerHandle | None = None
    _phase: str | None = None
    _received = 0
    # Of the uvicorn protocol the guard is mixed into.
    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    flow: FlowControl
    client: tuple[str, int] | None
    connections: set[Any]
    cycle: Any

    @abstractmethod
    def _waiting_for(self) -> str | None:
        """``"headers"`` (between requests or inside a request's headers), ``"body"``
        (inside a request's body) or None (the request is complete)."""

    @abstractmethod
    def _may_answer(self) -> bool:
        """Whether no answer has been started, so a raw error answer may be written."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if not self._over_limit():
            self._watch()

    def data_received(self, data: bytes) -> None:
        self._received += len(data)
        super().data_received(data)
        self._watch(fresh_data=True)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        super().connection_lost(exc)

    def _response_done(self) -> None:
        """An answer is complete: the next request's headers are awaited."""
        self._received = 0
        self._watch()

    def _upgraded(self) -> None:
        """The WebSocket protocol takes the transport over: no timer of ours runs on."""
        self._cancel()
        self._phase = "upgraded"

    def _over_limit(self) -> bool:
        """Cut a connection beyond ``max_connections`` (True when it was cut)."""
        if len(self.connections) > self.policy.limits.max_connections:
            self._cut("over_limit", _OVER_LIMIT)
            return True
        return False

    def _watch(self, fresh_data: bool = False) -> None:
        """Arm the timer the connection's state needs: headers, body, or none."""
        if self._phase == "upgraded" or self.transport.is_closing():
            return
        waiting = self._waiting_for()
        if waiting == "headers":
            if self._phase != "headers":  # the deadline runs from entering this state
                self._arm("headers", self.policy.limits.header_timeout)
        elif waiting == "body":
            if fresh_data or self._phase != "body":  # silence is counted from each byte
                self._arm("body", self.policy.limits.body_timeout)
        else:  # the request is complete: the app and the answer take their own time
            self._cancel()
            self._phase = None

    def _arm(self, phase: str, seconds: float) -> None:
        self._cancel()
        self._phase = phase
        self._timer = self.loop.call_later(seconds, self._expired, phase)

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self, phase: str) -> None:
        self._timer = None
        if self.transport.is_closing() or self._phase != phase:
            return
        if phase == "body" and self.flow.read_paused:  # the app is slow, not the client
            self._arm("body", self.policy.limits.body_timeout)
            return
        if phase == "headers" and not self._received:
            self._cut("idle_timeout", None)  # an idle connection: no answer is owed
        else:
            self._cut(_REASONS[phase], _TIMED_OUT)

    def _cut(self, reason: str, answer: bytes | None) -> None:
        self._cancel()
        self._phase = "closed"
        self.policy.count(reason)
        held = self.policy.gate.ready()
        if held is not None:
            client = self.client[0] if self.client else None
            log.warning("connection_closed", reason=reason, client=client, suppressed=held)
        if answer is not None and self._may_answer():
            self.transport.write(answer)
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True  # the app's receive() sees the client gone
            self.cycle.message_event.set()
        self.transport.close()


def guarded_h11_protocol(
    limits: ConnectionLimits, count: Counter, throttle: LogThrottle | None = None
) -> type[H11Protocol]:
    """Build uvicorn's h11 (pure-Python parser) protocol class with the guards of ``limits``.

    Args:
        limits: the timeouts and the connection cap.
        count: called with the reason of every connection the guards close.
        throttle: limits the ``connection_closed`` log lines (one a second by default).

    Returns:
        A class for ``uvicorn.Config(http=...)``.
    """
    gate = throttle or LogThrottle()

    class GuardedH11Protocol(_Guard, H11Protocol):
        """uvicorn's h11 protocol with header/body timeouts and a connection cap."""

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._response_done()

        def handle_websocket_upgrade(self, event: h11.Request) -> None:
            self._upgraded()
            super().handle_websocket_upgrade(event)

        def _waiting_for(self) -> str | None:
            state = self.conn.their_state
            if state is h11.IDLE:
                return "headers"
            return "body" if state is h11.SEND_BODY else None

        def _may_answer(self) -> bool:
            return self.conn.our_state in (h11.IDLE, h11.SEND_RESPONSE)

    GuardedH11Protocol.policy = _Policy(limits, count, gate)
    return GuardedH11Protocol


def guarded_httptools_protocol(
    limits: ConnectionLimits, count: Counter, throttle: LogThrottle | None = None
) -> type[asyncio.Protocol]:
    """Build uvicorn's httptools (C parser) protocol class with the guards of ``limits``.

    The same guards as :func:`guarded_h11_protocol`; the request's phase is followed
    through the parser's callbacks (message begun, headers complete, message complete).

    Args:
        limits: the timeouts and the connection cap.
        count: called with the reason of every connection the guards close.
        throttle: limits the ``connection_closed`` log lines (one a second by default).

    Returns:
        A class for ``uvicorn.Config(http=...)``.

    Raises:
        ImportError: httptools is not installed.
    """
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    gate = throttle or LogThrottle()

    class GuardedHttpToolsProtocol(_Guard, HttpToolsProtocol):
        """uvicorn's httptools protocol with header/body timeouts and a connection cap."""

        # "idle" (no request begun), "headers", "body" or "done", from the parser.
        _request_state = "idle"

        def on_message_begin(self) -> None:
            self._request_state = "headers"
            super().on_message_begin()

        def on_headers_complete(self) -> None:
            self._request_state = "body"
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            self._request_state = "done"
            super().on_message_complete()

        def on_response_complete(self) -> None:
            if self._request_state == "done" and not self.pipeline:
                self._request_state = "idle"  # else the parser is already on the next one
            super().on_response_complete()
            self._response_done()

        def handle_websocket_upgrade(self) -> None:
            self._upgraded()
            super().handle_websocket_upgrade()

        def _waiting_for(self) -> str | None:
            state = self._request_state
            if state in ("idle", "headers"):
                return "headers"
            return "body" if state == "body" else None

        def _may_answer(self) -> bool:
            cycle = self.cycle
            return cycle is None or cycle.response_complete or not cycle.response_started

    GuardedHttpToolsProtocol.policy = _Policy(limits, count, gate)
    return GuardedHttpToolsProtocol


def guarded_protocol(
    limits: ConnectionLimits, count: Counter, throttle: LogThrottle | None = None,
    parser: str = "auto",
) -> type[asyncio.Protocol]:
    """The guarded protocol of ``parser``: ``"httptools"`` (C), ``"h11"`` (pure Python) or
    ``"auto"`` (httptools when it is installed, as with the ``server`` extra, else h11).

    Raises:
        ImportError: ``"httptools"`` was asked for and is not installed.
    """
    if parser == "auto":
        try:
            import httptools  # noqa: F401  (only whether it can be imported)
        except ImportError:
            parser = "h11"
        else:
            parser = "httptools"
    if parser == "httptools":
        return guarded_httptools_protocol(limits, count, throttle)
    if parser == "h11":
        return guarded_h11_protocol(limits, count, throttle)
    raise ValueError(f"unknown HTTP parser {parser!r} (auto, httptools or h11)")
