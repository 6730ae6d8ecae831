"""Run the app under uvicorn with Worldgate's logging and graceful shutdown."""

from __future__ import annotations

import math
import signal
import socket
from types import FrameType

import uvicorn
from litestar import Litestar

from app.runtime.shutdown import Drain
from app.runtime.ws_protocol import CoalescingWebSocketProtocol
from app.settings import Settings

__all__ = ["GracefulServer", "run_server"]


class GracefulServer(uvicorn.Server):
    """A uvicorn server that drains the app before its own shutdown.

    The drain closes WebSockets with 1001; uvicorn's shutdown then stops accepting, waits
    for in-flight requests up to ``timeout_graceful_shutdown`` and runs the lifespan
    shutdown (components stop, the outbox publisher flushes).

    Args:
        config: the uvicorn configuration.
        drain: the app's drain (``container.drain()``).
        grace_seconds: the most seconds the drain may take.
    """

    def __init__(self, config: uvicorn.Config, drain: Drain, grace_seconds: float) -> None:
        super().__init__(config)
        self.drain = drain
        self.grace_seconds = grace_seconds

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Drain the app, then shut down as uvicorn does."""
        await self.drain.begin(self.grace_seconds)
        await super().shutdown(sockets=sockets)


def run_server(app: Litestar, settings: Settings, drain: Drain) -> None:
    """Serve ``app`` until SIGINT/SIGTERM; return after a graceful shutdown.

    Logging must be configured by the caller (:func:`app.runtime.logging.configure_logging`);
    uvicorn's own loggers are routed through it and its access log is replaced by the
    ``http_request`` lines of the request middleware.

    Args:
        app: the application.
        settings: host, port, log level and ``server.shutdown_timeout`` are read from it.
        drain: the app's drain.
    """
    timeout = settings.server.shutdown_timeout
    config = uvicorn.Config(
        app,
        host=settings.server.host,
        port=settings.server.port,
        log_level=settings.server.log_level,
        log_config=None,
        access_log=False,
        # Events are small JSON frames: compressing each one costs more CPU than it saves
        # bandwidth (the relay benchmark sustains ~2.7x the rate without it).
        ws_per_message_deflate=False,
        # One socket write per client per batch of relayed events, not one per event.
        ws=CoalescingWebSocketProtocol,
        timeout_graceful_shutdown=max(1, math.ceil(timeout)),
    )
    server = GracefulServer(config, drain, grace_seconds=timeout)

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
        for sig, handler in previous.items():
            signal.signal(sig, handler)


_SHUTDOWN_SIGNALS = (signal.SIGTERM, signal.SIGINT)
