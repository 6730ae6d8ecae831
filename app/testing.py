"""Helpers to run real Worldgate servers in tests and benchmarks (ports, processes, threads)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import IO, Any, TypeVar

import anyio
import httpx
import msgspec
import uvicorn

from app.settings import ENV_PREFIX

__all__ = [
    "ServerProcess",
    "ThreadedServer",
    "free_port",
    "serve_in_task",
    "serve_in_thread",
    "serve_process",
    "settings_env",
    "tcp_listener",
]

T = TypeVar("T")
LOOPBACK = "127.0.0.1"
# The folder holding the ``app`` package: a child started there imports this very checkout.
_PACKAGE_ROOT = Path(__file__).resolve().parents[1]
_SERVE = ("-c", "from app.cli import main; main()", "serve")


def free_port(host: str = LOOPBACK) -> int:
    """Return a TCP port nothing listens on right now (bound, read, released).

    Another process may take it before you bind it; prefer ``tcp_listener`` where the
    server can be handed a socket.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def tcp_listener(
    host: str = LOOPBACK, port: int = 0, *, reuse_address: bool = False
) -> socket.socket:
    """Bind a TCP socket (port 0: a free one) for a server to listen on.

    The socket is created with ``proto=IPPROTO_TCP``: asyncio turns on ``TCP_NODELAY`` for
    accepted connections only when the listening socket says TCP; without it Nagle plus
    delayed ACK add ~40 ms to small answers.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    if reuse_address:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


def settings_env(overrides: Mapping[str, Any], *, prefix: str = ENV_PREFIX) -> dict[str, str]:
    """Turn nested settings overrides into ``WORLDGATE__SECTION__KEY`` environment variables.

    Strings stay as they are; everything else is JSON (``true``, ``2``, ``["gateway"]``).
    """
    env: dict[str, str] = {}
    for key, value in overrides.items():
        name = f"{prefix}{key.upper()}"
        if isinstance(value, Mapping):
            env.update(settings_env(value, prefix=f"{name}__"))
        elif isinstance(value, str):
            env[name] = value
        else:
            env[name] = msgspec.json.encode(value).decode()
    return env


class ServerProcess:
    """One ``worldgate serve`` child process on a loopback port, logging to a file.

    Args:
        env: ``WORLDGATE__...`` overrides; inherited ``WORLDGATE__`` variables are dropped.
        log_path: the file stdout and stderr are appended to.
        port: the port (a free one when None); kept across ``start`` calls.
        ready_path: the path that answers 200 once the server is ready.
        cwd: the child's working directory (the folder holding ``app`` when None).
        command: the command that serves (``python -c ... serve`` of this checkout when
            None; e.g. an installed ``worldgate serve``).
    """

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        log_path: Path,
        port: int | None = None,
        ready_path: str = "/ready",
        cwd: Path | None = None,
        command: Sequence[str] | None = None,
    ) -> None:
        self.port = port or free_port()
        self.command = list(command) if command else [sys.executable, *_SERVE]
        self.log_path = log_path
        self.ready_path = ready_path
        self.cwd = cwd or _PACKAGE_ROOT
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)},
            f"{ENV_PREFIX}SERVER__HOST": LOOPBACK,
            f"{ENV_PREFIX}SERVER__PORT": str(self.port),
            **(env or {}),
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        """The HTTP base URL."""
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def ws_url(self) -> str:
        """The WebSocket base URL."""
        return f"ws://{LOOPBACK}:{self.port}"

    def start(self) -> None:
        """Spawn the process and return at once (see ``wait_ready``)."""
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.command, env=self.env, cwd=self.cwd, stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Poll ``ready_path`` until it answers 200.

        Raises:
            RuntimeError: the process exited or was not ready within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2.0, trust_env=False) as client:
            while True:
                if self.proc is None or self.proc.poll() is not None:
                    code = None if self.proc is None else self.proc.returncode
                    raise RuntimeError(f"server exited ({code}):\n{self.tail()}")
                try:
                    if client.get(self.url + self.ready_path).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"server not ready after {timeout}s:\n{self.tail()}")
                time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: a crash, no shutdown work at all."""
        self._end(signal.SIGKILL)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM (a graceful shutdown); SIGKILL if it takes longer than ``timeout``."""
        self._end(signal.SIGTERM, timeout)

    def _end(self, sig: int, timeout: float = 20.0) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def tail(self, lines: int = 40) -> str:
        """The end of the log (for failure messages)."""
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


@contextmanager
def serve_process(
    env: Mapping[str, str] | None = None,
    *,
    log_path: Path,
    port: int | None = None,
    ready_path: str = "/ready",
    timeout: float = 30.0,
) -> Iterator[ServerProcess]:
    """Run ``worldgate serve`` until the block ends (SIGTERM, then SIGKILL if it hangs).

    Yields:
        The ready ``ServerProcess`` (``.url``, ``.proc``, ``.log_path``).
    """
    server = ServerProcess(env, log_path=log_path, port=port, ready_path=ready_path)
    server.start()
    try:
        server.wait_ready(timeout)
        yield server
    finally:
        server.stop()


class ThreadedServer:
    """A uvicorn server on its own event loop in a daemon thread, on a pre-bound socket.

    Args:
        server: the uvicorn server (``uvicorn.Server`` or a subclass).
        sock: the listening socket (``tcp_listener()`` when None); closed on ``stop``.
    """

    def __init__(self, server: uvicorn.Server, sock: socket.socket | None = None) -> None:
        self.server = server
        self.sock = sock or tcp_listener()
        self.port: int = self.sock.getsockname()[1]
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.ws_url = f"ws://{LOOPBACK}:{self.port}"
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="uvicorn-test", daemon=True)

    def _run(self) -> None:
        try:
            self.loop.run_until_complete(self.server.serve(sockets=[self.sock]))
        finally:
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())

    def start(self, timeout: float = 30.0) -> None:
        """Start the thread and wait until uvicorn has started (lifespan included).

        Raises:
            RuntimeError: the server stopped or did not start within ``timeout`` seconds.
        """
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the server did not start")
            time.sleep(0.01)

    def stop(self, timeout: float = 30.0) -> None:
        """Ask uvicorn to exit (as on SIGTERM), wait for the thread, release the socket."""
        self.server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
        if not self._thread.is_alive():
            self.loop.close()
        self.sock.close()

    def call(self, fn: Callable[..., Awaitable[T]], *args: Any, timeout: float = 10.0) -> T:
        """Run an async callable on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(_await(fn, *args), self.loop).result(timeout)

    def __enter__(self) -> ThreadedServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def _await(fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    return await fn(*args)


@contextmanager
def serve_in_thread(
    app: Any,
    *,
    log_level: str = "error",
    ws: str = "websockets-sansio",
    sock: socket.socket | None = None,
    **config: Any,
) -> Iterator[str]:
    """Serve an ASGI app with uvicorn in a thread (lifespan on); yield its base URL.

    Args:
        app: the ASGI app (``create_app(...)``).
        log_level: uvicorn's log level.
        ws: uvicorn's WebSocket implementation (``"none"`` for HTTP only).
        sock: the listening socket (``tcp_listener()`` when None).
        **config: more ``uvicorn.Config`` arguments.
    """
    options: dict[str, Any] = {"lifespan": "on", "access_log": False, **config}
    server = uvicorn.Server(uvicorn.Config(app, log_level=log_level, ws=ws, **options))
    with ThreadedServer(server, sock) as running:
        yield running.url


@asynccontextmanager
async def serve_in_task(
    server: uvicorn.Server, sock: socket.socket, *, start_seconds: float = 30.0
) -> AsyncIterator[None]:
    """Run ``server`` on ``sock`` in a task of the current event loop for the block.

    Waits until uvicorn has started; on exit asks it to stop and waits for its shutdown
    (the app's lifespan shutdown included).

    Raises:
        RuntimeError: the server stopped during start-up.
    """
    stopped = anyio.Event()

    async def serve() -> None:
        try:
            await server.serve(sockets=[sock])
        finally:
            stopped.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(serve)
        with anyio.fail_after(start_seconds):
            while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
                if stopped.is_set():
                    raise RuntimeError("the server did not start")
                await anyio.sleep(0.01)
        try:
            yield
        finally:
            server.should_exit = True
            await stopped.wait()
