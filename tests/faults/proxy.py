"""A small TCP proxy that injects network faults on command: delay, stall, reset, cut.

It sits between Worldgate and PostgreSQL, Redis or a WorldService; its own event loop
runs in a daemon thread, so synchronous tests, async tests and server subprocesses can all
use it.

* ``delay(s)`` forwards every chunk ``s`` seconds late;
* ``stall()`` holds every byte (open connections stay open, new ones are accepted, nothing
  passes): a peer that stopped answering without closing anything;
* ``reset()`` sends a TCP reset on every open connection (new ones still pass);
* ``cut()`` resets every open connection and refuses new ones (the port stops listening);
* ``heal()`` brings back normal forwarding (and listening).
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["FaultProxy"]

T = TypeVar("T")
_CHUNK = 65536


class _Link:
    """One proxied connection: the client side and the upstream side."""

    def __init__(self, client: asyncio.StreamWriter) -> None:
        self.client = client
        self.upstream: asyncio.StreamWriter | None = None
        self.tasks: list[asyncio.Task[None]] = []

    def reset(self) -> None:
        """Abort both sides with a TCP reset (SO_LINGER 0)."""
        for writer in (self.client, self.upstream):
            if writer is None:
                continue
            sock = writer.get_extra_info("socket")
            if sock is not None:
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                except OSError:
                    pass
            writer.transport.abort()
        for task in self.tasks:
            task.cancel()


class FaultProxy:
    """Forward ``127.0.0.1:<port>`` to ``target``, with faults switched on command.

    Args:
        target_host: where connections go.
        target_port: ... and its port.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault-proxy",
                                        daemon=True)
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()
        self._flowing: asyncio.Event | None = None
        self._delay = 0.0
        self.port = 0
        self.accepted = 0

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        """Start the loop thread and listen on a free loopback port."""
        self._thread.start()
        self._call(self._init())
        self.port = self._call(self._listen(0))
        return self

    def stop(self) -> None:
        """Reset every connection, stop listening and end the loop thread."""
        if not self._thread.is_alive():
            return
        self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5.0)
        if not self._thread.is_alive():
            self._loop.close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def address(self) -> str:
        """``127.0.0.1:<port>``."""
        return f"127.0.0.1:{self.port}"

    @property
    def open_links(self) -> int:
        """Connections currently proxied."""
        return len(self._links)

    # -- faults ---------------------------------------------------------------------------

    def delay(self, seconds: float) -> None:
        """Forward every chunk ``seconds`` late (both directions)."""
        self._delay = seconds
        self._call(self._flow(True))

    def stall(self) -> None:
        """Hold every byte in both directions; connections stay open and are accepted."""
        self._call(self._flow(False))

    def reset(self) -> None:
        """Reset every open connection; new ones are forwarded."""
        self._call(self._reset_all())

    def cut(self) -> None:
        """Reset every open connection and refuse new ones (nothing listens on the port)."""
        self._call(self._cut())

    def heal(self) -> None:
        """Forward normally again, listening again after a cut."""
        self._delay = 0.0
        self._call(self._heal())

    # -- internals ------------------------------------------------------------------------

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10.0)

    async def _init(self) -> None:
        self._flowing = asyncio.Event()
        self._flowing.set()

    async def _listen(self, port: int) -> int:
        self._server = await asyncio.start_server(
            self._accept, "127.0.0.1", port, reuse_address=True
        )
        sock = self._server.sockets[0]
        return int(sock.getsockname()[1])

    async def _flow(self, on: bool) -> None:
        assert self._flowing is not None
        if on:
            self._flowing.set()
        else:
            self._flowing.clear()

    async def _reset_all(self) -> None:
        for link in list(self._links):
            link.reset()
        self._links.clear()

    async def _cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        await self._reset_all()

    async def _heal(self) -> None:
        await self._flow(True)
        if self._server is None:
            await self._listen(self.port)

    async def _shutdown(self) -> None:
        await self._cut()
        await self._flow(True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        link = _Link(writer)
        self._links.add(link)
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            link.reset()
            self._links.discard(link)
            return
        link.upstream = up_writer
        link.tasks = [
            asyncio.ensure_future(self._pump(reader, up_writer, link)),
            asyncio.ensure_future(self._pump(up_reader, writer, link)),
        ]

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: _Link
    ) -> None:
        flowing = self._flowing
        assert flowing is not None
        try:
            while True:
                await flowing.wait()
                data = await reader.read(_CHUNK)
                if not data:
                    break
                if self._delay:
                    await asyncio.sleep(self._delay)
                await flowing.wait()  # a stall that began while this chunk was read holds it
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            if link in self._links:  # one side ended: end the other one too
                self._links.discard(link)
                for side in (link.client, link.upstream):
                    if side is not None:
                        side.close()
