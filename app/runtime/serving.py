"""Run the app under uvicorn with Worldgate's logging, connection guards and bounded shutdown.

Shutdown budget, as shares of ``server.shutdown_timeout`` (T) from SIGTERM:

* drain (hooks, closing WebSockets with 1001): ``DRAIN_SHARE`` · T;
* in-flight HTTP requests: ``REQUESTS_SHARE`` · T, then uvicorn cancels them;
* components (the outbox flush ``OUTBOX_FLUSH_SHARE`` · T, the store close
  ``STORE_CLOSE_SHARE`` · T, set by the container);
* a watchdog ends the process (exit status 1, ``shutdown_deadline_exceeded`` logged) if it
  is still running T seconds after the shutdown began, whatever is stuck.
"""

from __future__ import annotations

import math
import os
import resource
import signal
import socket
import threading
from types import FrameType
from typing import Any

import structlog
import uvicorn
from litestar import Litestar

from app.runtime.connections import ConnectionLimits, guarded_protocol
from app.runtime.shutdown import (
    DRAIN_SHARE,
    OUTBOX_FLUSH_SHARE,
    REQUESTS_SHARE,
    STORE_CLOSE_SHARE,
    Drain,
)
from app.runtime.ws_protocol import CoalescingWebSocketProtocol
from app.settings import Settings
from app.telemetry import AppMetrics

__all__ = [
    "DRAIN_SHARE",
    "OUTBOX_FLUSH_SHARE",
    "REQUESTS_SHARE",
    "STORE_CLOSE_SHARE",
    "GracefulServer",
    "run_server",
    "uvicorn_config",
]

log = structlog.get_logger(__name__)



class GracefulServer(uvicorn.Server):
    """A uvicorn server that drains the app before its own shutdown, within a deadline.

    The drain closes WebSockets with 1001; uvicorn's shutdown then stops accepting, waits
    for in-flight requests up to ``timeout_graceful_shutdown`` and runs the lifespan
    shutdown (components stop, the outbox publisher flushes). A watchdog started with the
    shutdown ends the process if it has not finished ``deadline_seconds`` later.

    Args:
        config: the uvicorn configuration.
        drain: the app's drain (``container.drain()``).
        grace_seconds: the most seconds the drain may take.
        deadline_seconds: the most seconds the whole shutdown may take (None: no watchdog).
    """

    def __init__(
        self,
        config: uvicorn.Config,
        drain: Drain,
        grace_seconds: float,
        deadline_seconds: float | None = None,
    ) -> None:
        super().__init__(config)
        self.drain = drain
        self.grace_seconds = grace_seconds
        self.deadline_seconds = deadline_seconds
        self.watchdog: threading.Timer | None = None

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Drain the app, then shut down as uvicorn does (under the watchdog)."""
        if self.deadline_seconds is not None and self.watchdog is None:
            self.watchdog = threading.Timer(self.deadline_seconds, _deadline_exceeded,
                                            args=(self.deadline_seconds,))
            self.watchdog.daemon = True
            self.watchdog.start()
        await self.drain.begin(self.grace_seconds)
        await super().shutdown(sockets=sockets)


def _deadline_exceeded(seconds: float) -> None:
    log.error("shutdown_deadline_exceeded", seconds=seconds)
    os._exit(1)  # the shutdown is stuck: stored writes are durable, nothing else to save


def uvicorn_config(app: Any, settings: Settings, metrics: AppMetrics | None = None,
                   **options: Any) -> uvicorn.Config:
    """The uvicorn configuration of ``worldgate serve`` (also used by tests).

    Args:
        app: the ASGI app.
        settings: host, port, log level, connection limits and the shutdown timeout.
        metrics: counts the connections the guards close (not counted when None).
        **options: more ``uvicorn.Config`` arguments (tests: ``lifespan``...).
    """
    server = settings.server
    limits = ConnectionLimits(
        header_timeout=server.header_timeout,
        body_timeout=server.body_timeout,
        max_connections=server.max_connections,
    )
    count = metrics.connection_closed if metrics is not None else (lambda reason: None)
    config = uvicorn.Config(
        app,
        host=server.host,
        port=server.port,
        log_level=server.log_level,
        log_config=None,
        access_log=False,
        # httptools' C parser when installed (the `server` extra), else h11; uvicorn's
        # default loop ("auto") is uvloop when installed. Both with the connection guards.
        http=guarded_protocol(limits, count),
        # Events are small JSON frames: compressing each one costs more CPU than it saves
        # bandwidth (the relay benchmark sustains ~2.7x the rate without it).
        ws_per_message_deflate=False,
        # One socket write per client per batch of relayed events, not one per event.
        ws=CoalescingWebSocketProtocol,
        timeout_keep_alive=max(1, math.ceil(server.keep_alive_timeout)),
        **options,
    )
    # uvicorn types it as whole seconds, but waits with asyncio (any float works).
    config.timeout_graceful_shutdown = REQUESTS_SHARE * server.shutdown_timeout  # type: ignore[assignment]
    return config


def _raise_open_file_limit(wanted: int) -> None:
    """Let the process hold ``wanted`` connections (plus its own files), as far as the hard
    limit allows; warn when it does not."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = wanted + 256
    if soft >= need:
        return
    target = need if hard == resource.RLIM_INFINITY else min(need, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        target = soft
    if target < need:
        log.warning("open_file_limit_low", limit=target, max_connections=wanted)


def run_server(
    app: Litestar, settings: Settings, drain: Drain, metrics: AppMetrics | None = None
) -> None:
    """Serve ``app`` until SIGINT/SIGTERM; return after a graceful shutdown.

    Logging must be configured by the caller (:func:`app.runtime.logging.configure_logging`);
    uvicorn's own loggers are routed through it and its access log is replaced by the
    ``http_request`` lines of the request middleware.

    Args:
        app: the application.
        settings: host, port, log level, connection limits and ``server.shutdown_timeout``.
        drain: the app's drain.
        metrics: counts the connections the guards close.
    """
    timeout = settings.server.shutdown_timeout
    _raise_open_file_limit(settings.server.max_connections)
    server = GracefulServer(
        uvicorn_config(app, settings, metrics),
        drain,
        grace_seconds=DRAIN_SHARE * timeout,
        deadline_seconds=timeout,
    )

    def stop_requested(signum: int, frame: FrameType | None) -> None:
        # Before uvicorn takes the signals over: ask it to stop as soon as it can. After its
        # graceful shutdown uvicorn re-delivers the signal here; it is then already done.
        server.should_exit = True

    # Without these handlers that re-delivery would kill a cleanly shut down process (exit
    # status -15) or raise KeyboardInterrupt; with them a completed shutdown exits 0.
    previous = {sig: signal.signal(sig, stop_requested) for sig in _SHUTDOWN_SIGNALS}
    try:
        server.run()
    finally:
        if server.watchdog is not None:
            server.watchdog.cancel()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


_SHUTDOWN_SIGNALS = (signal.SIGTERM, signal.SIGINT)
