"""Live-server fixtures: the SDK speaks real HTTP/WebSocket, so tests run a real uvicorn."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import uvicorn

from app.main import create_app
from app.settings import Settings

V2_OVERRIDES: dict[str, Any] = {
    "worldservice": {"server": {"compat_rebalance_v2": True}},
    "gateway": {"rebalance_schema_version": 2, "alpha_metrics_capable": True},
}


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serve an ASGI app on a free loopback port in a thread; yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="on", log_level="error", ws="websockets-sansio",
                            access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            thread.join(5)
            sock.close()
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(20)
        sock.close()


def _listening_socket() -> socket.socket:
    # With the protocol set, asyncio turns on TCP_NODELAY for accepted connections (else
    # Nagle + delayed ACK add ~40 ms to every answer).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


@contextmanager
def serve_process(overrides: dict[str, Any], folder: Path) -> Iterator[str]:
    """Run the real app in a child process (its logs go to ``folder/server.log``)."""
    root = Path(__file__).resolve().parents[2]
    settings = {**overrides, "store": {"sqlite_path": str(folder / "worldgate.sqlite3")}}
    sock = _listening_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with (folder / "server.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.sdk.server_child", str(sock.fileno()),
             msgspec.json.encode(settings).decode()],
            cwd=root, pass_fds=(sock.fileno(),), stdout=log, stderr=subprocess.STDOUT,
        )
    sock.close()
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((folder / "server.log").read_text()[-2000:])
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def served_v1(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A v1 server in a child process, shared by one module's CLI tests."""
    with serve_process({}, tmp_path_factory.mktemp("v1")) as url:
        yield url


@pytest.fixture(scope="module")
def served_v2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A v2 server in a child process, shared by one module's CLI tests."""
    with serve_process(V2_OVERRIDES, tmp_path_factory.mktemp("v2")) as url:
        yield url


@pytest.fixture
def live_server(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., str]]:
    """Start the real app for the given overrides; returns its base URL (stopped after)."""
    stack: list[Any] = []

    def start(overrides: dict[str, Any] | None = None) -> str:
        cm = serve(create_app(make_settings(overrides)))
        url = cm.__enter__()
        stack.append(cm)
        return url

    yield start
    for cm in reversed(stack):
        cm.__exit__(None, None, None)


@pytest.fixture
def v1_url(live_server: Callable[..., str]) -> str:
    """A server on the default (v1) settings."""
    return live_server()


@pytest.fixture
def v2_url(live_server: Callable[..., str]) -> str:
    """A server with WorldService v2 and a v2, alpha-capable Gateway."""
    return live_server(V2_OVERRIDES)


@pytest.fixture
def dead_url() -> str:
    """A loopback URL nothing listens on (a port just bound and released)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"
