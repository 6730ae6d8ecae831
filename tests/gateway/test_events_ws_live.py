"""``WS /events`` against a real uvicorn server with the ``websockets`` client library."""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from app.settings import Settings
from tests.gateway.events_ws_support import RECEIVE_TIMEOUT, live_server, planned_event

SettingsFactory = Callable[..., Settings]
EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


def recv(ws: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(ws.recv(timeout=RECEIVE_TIMEOUT))
    return message


@contextmanager
def stalled_client(port: int, path: str) -> Iterator[socket.socket]:
    """A WebSocket client that completes the handshake and then reads nothing at all.

    It is a bare TCP socket with a small, fixed receive buffer, so the server's writes to it
    block once the kernel buffers are full (a library client would keep reading).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16_384)
        sock.settimeout(RECEIVE_TIMEOUT)
        sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = b""
        while b'"type":"subscribed"' not in head:  # 101 response, then the first frame
            head += sock.recv(4096)
        assert head.startswith(b"HTTP/1.1 101")
        yield sock
    finally:
        sock.close()


def read_until(sock: socket.socket, marker: bytes) -> bytes:
    """Read the raw stream until ``marker`` shows up (server frames are not masked)."""
    data = b""
    while marker not in data[-len(marker) - 65_536 :]:
        chunk = sock.recv(65_536)
        assert chunk, "connection closed before the marker"
        data += chunk
    return data


def test_a_stalled_client_does_not_delay_another(make_settings: SettingsFactory) -> None:
    settings = make_settings({"gateway": {"relay": {"client_buffer": 4}}})
    # ~24 MB in total: far more than the kernel and transport buffers of the stalled
    # reader, so the server's writes to it block while the other client is served.
    pad = "x" * 60_000
    events = [planned_event("w1", pad=pad) for _ in range(400)]
    with live_server(settings) as server:
        with (
            stalled_client(server.port, "/events") as stalled,
            connect(f"{server.url}/events", max_size=None) as fast,
        ):
            assert recv(fast)["type"] == "subscribed"
            server.emit(*events)
            got = [recv(fast) for _ in events]
            assert [m["id"] for m in got] == [e.id for e in events]
            assert [m["seq"] for m in got] == list(range(1, len(events) + 1))
            # The stalled client now reads: a prefix of the events, then the gap.
            stream = read_until(stalled, b'"type":"lagged"')
            first_missed = int(stream.rsplit(b'"missed_from":', 1)[1].split(b",")[0])
            assert 1 < first_missed < len(events)
            assert stream.count(b'"type":"rebalancing_planned"') == first_missed - 1


def test_batched_frames_of_every_length_arrive_intact(make_settings: SettingsFactory) -> None:
    # One commit, so the relay hands the writer one batch: short frames, frames with a
    # 16-bit length and one with a 64-bit length leave in one socket write and must
    # arrive as separate, intact text messages.
    events = [
        planned_event("w1", pad="é" * n) for n in (0, 50, 200, 40_000, 70_000, 5, 126, 65_536)
    ]
    with live_server(make_settings()) as server:
        with connect(f"{server.url}/events", max_size=None) as ws:
            assert recv(ws)["type"] == "subscribed"
            server.emit(*events)
            got = [recv(ws) for _ in events]
    assert [m["id"] for m in got] == [e.id for e in events]
    assert [m["data"]["pad"] for m in got] == [e.data["pad"] for e in events]
    assert [m["seq"] for m in got] == list(range(1, len(events) + 1))


def test_shutdown_closes_clients_with_1001(make_settings: SettingsFactory) -> None:
    with live_server(make_settings()) as server:
        with connect(f"{server.url}/events?schema_version=2") as ws:
            assert recv(ws)["type"] == "subscribed"
            server.publish(event := planned_event("w1", v2=True))
            assert recv(ws)["data"]["alpha_metrics"] == event.data["alpha_metrics"]
            server.stop()
            with pytest.raises(ConnectionClosed) as info:
                ws.recv(timeout=RECEIVE_TIMEOUT)
            assert info.value.rcvd is not None and info.value.rcvd.code == 1001


@contextmanager
def example_process(command: list[str]) -> Iterator[subprocess.Popen[str]]:
    """Run a docs example; killed if the test fails before it exits on its own."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def test_python_example_follows_and_resumes(make_settings: SettingsFactory) -> None:
    with live_server(make_settings()) as server:
        first, missed = planned_event("w1"), planned_event("w1")
        server.emit(first, missed)
        command = [
            sys.executable,
            str(EXAMPLES / "ws_client.py"),
            f"--url={server.url}/events",
            "--world-id=w1",
            "--since=1",  # it saw `first` before: it gets `missed`, then live events
            "--max-events=2",
        ]
        with example_process(command) as proc:
            assert proc.stdout is not None and proc.stderr is not None
            assert proc.stderr.readline().startswith("subscribed:")
            assert json.loads(proc.stdout.readline())["id"] == missed.id
            server.emit(planned_event("w2"), live := planned_event("w1"))
            assert json.loads(proc.stdout.readline())["id"] == live.id
            assert proc.wait(timeout=RECEIVE_TIMEOUT) == 0


def test_token_is_checked_on_the_handshake(make_settings: SettingsFactory) -> None:
    with live_server(make_settings({"security": {"api_tokens": ["s3cret"]}})) as server:
        with pytest.raises(InvalidStatus) as info:
            with connect(f"{server.url}/events"):
                pass
        assert info.value.response.status_code == 401
        headers = {"Authorization": "Bearer s3cret"}
        with connect(f"{server.url}/events", additional_headers=headers) as ws:
            assert recv(ws)["type"] == "subscribed"


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_javascript_example_follows_and_resumes(make_settings: SettingsFactory) -> None:
    node = shutil.which("node")
    assert node is not None
    with live_server(make_settings()) as server:
        first, missed = planned_event("w1"), planned_event("w1")
        server.emit(first, missed)
        example = str(EXAMPLES / "ws_client.js")
        # Node 20 needs the flag for the global WebSocket; newer versions accept it too.
        command = [node, "--experimental-websocket", example, f"{server.url}/events", "w1"]
        with example_process([*command, "2", "1", "2"]) as proc:
            assert proc.stdout is not None and proc.stderr is not None
            replayed = json.loads(proc.stdout.readline())
            assert (replayed["id"], replayed["seq"]) == (missed.id, 2)
            server.emit(planned_event("w2"), live := planned_event("w1", v2=True))
            got = json.loads(proc.stdout.readline())
            assert got["id"] == live.id and "alpha_metrics" in got["data"]
            assert proc.wait(timeout=RECEIVE_TIMEOUT) == 0
