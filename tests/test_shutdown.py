"""Graceful shutdown of a real server process: SIGTERM lets in-flight requests finish,
closes WebSockets with 1001 and exits 0."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import msgspec
import pytest
from litestar.exceptions import WebSocketDisconnect
from prometheus_client.parser import text_string_to_metric_families
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect as ws_connect

from app.runtime.shutdown import Drain
from app.testing import ServerProcess

# Upper bounds for a slow shared machine; a healthy run takes a small part of them.
START_BOUND = 30.0
EXIT_BOUND = 30.0


class Server(ServerProcess):
    """A ``worldgate serve`` subprocess with its own SQLite file and JSON logs."""

    def __init__(self, tmp_path: Path, extra_env: dict[str, str] | None = None) -> None:
        super().__init__(
            {
                "WORLDGATE__STORE__SQLITE_PATH": str(tmp_path / "worldgate.sqlite3"),
                "WORLDGATE__SERVER__SHUTDOWN_TIMEOUT": "20",
                "WORLDGATE__SERVER__LOG_FORMAT": "json",
                **(extra_env or {}),
            },
            log_path=tmp_path / "server.log",
            ready_path="/metrics",
        )
        self.start()
        assert self.proc is not None
        self.process = self.proc  # the tests signal it and wait for its exit themselves

    def gauge(self, name: str) -> float:
        with httpx.Client(base_url=self.url, timeout=5.0) as client:
            text = client.get("/metrics").text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name:
                    return float(sample.value)
        raise AssertionError(f"{name} not in /metrics")

    def wait_exit(self) -> int:
        try:
            return self.process.wait(timeout=EXIT_BOUND)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"server did not exit after SIGTERM:\n{self.log()}") from None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def close(self) -> None:
        self.kill()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path)
    try:
        srv.wait_ready()
        yield srv
    finally:
        srv.close()


def _plan_body() -> bytes:
    request: dict[str, Any] = {
        "total_equity": 100_000.0,
        "world_alloc_before": {"w1": 0.5},
        "world_alloc_after": {"w1": 0.25},
        "positions": [
            {"world_id": "w1", "strategy_id": "s1", "symbol": "BTC", "qty": 2.0, "mark": 100.0}
        ],
    }
    return msgspec.json.encode(request)


def _read_response(sock: socket.socket) -> tuple[int, bytes]:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    raw = b"".join(chunks)
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, body


def test_sigterm_finishes_in_flight_request_and_exits_0(server: Server) -> None:
    body = _plan_body()
    head = (
        "POST /worldservice/rebalancing/plan HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{server.port}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=EXIT_BOUND) as sock:
        # Headers and half the body: the handler is now running, waiting for the rest.
        sock.sendall(head + body[: len(body) // 2])
        deadline = time.monotonic() + START_BOUND
        # The scrape itself is one request in flight; ours makes it two.
        while server.gauge("worldgate_http_requests_in_flight") < 2:
            assert time.monotonic() < deadline, "request never reached the app"
            time.sleep(0.05)
        server.process.send_signal(signal.SIGTERM)
        # Shutdown has begun once the drain ran; the in-flight request is still open.
        while b"drain_finished" not in server.log().encode():
            assert time.monotonic() < deadline, server.log()
            time.sleep(0.05)
        assert server.process.poll() is None
        sock.sendall(body[len(body) // 2 :])
        status, answer = _read_response(sock)
    assert status == 200, answer
    plan = msgspec.json.decode(answer)
    assert plan["schema_version"] == 1 and "w1" in plan["per_world"]
    assert server.wait_exit() == 0, server.log()
    log = server.log()
    assert "Application shutdown complete" in log
    assert "Traceback" not in log


def test_sigterm_closes_websockets_with_1001(server: Server) -> None:
    with ws_connect(f"ws://127.0.0.1:{server.port}/events", open_timeout=10) as ws:
        deadline = time.monotonic() + START_BOUND
        while server.gauge("worldgate_websocket_clients") < 1:
            assert time.monotonic() < deadline, "WebSocket client never registered"
            time.sleep(0.05)
        server.process.send_signal(signal.SIGTERM)
        with pytest.raises(ConnectionClosed) as info:
            while True:
                ws.recv(timeout=EXIT_BOUND)
    assert info.value.rcvd is not None, "the server sent no close frame"
    assert info.value.rcvd.code == 1001
    assert server.wait_exit() == 0, server.log()


def test_served_websocket_without_token_gets_http_401(tmp_path: Path) -> None:
    """Through uvicorn a refused WebSocket handshake is a real 401 with the SPEC body."""
    srv = Server(tmp_path, {"WORLDGATE__SECURITY__API_TOKENS": '["tok"]'})
    try:
        srv.wait_ready()
        with pytest.raises(InvalidStatus) as info:
            with ws_connect(f"ws://127.0.0.1:{srv.port}/events", open_timeout=10):
                pass
        response = info.value.response
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert msgspec.json.decode(response.body)["code"] == "E_UNAUTHORIZED"
        headers = {"Authorization": "Bearer tok"}
        with ws_connect(
            f"ws://127.0.0.1:{srv.port}/events", additional_headers=headers, open_timeout=10
        ) as ws:
            assert b"subscribed" in str(ws.recv(timeout=10)).encode()
        srv.process.send_signal(signal.SIGTERM)
        assert srv.wait_exit() == 0, srv.log()
    finally:
        srv.close()


class _Sent:
    """A recording ASGI ``send``."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    async def __call__(self, message: Any) -> None:
        self.messages.append(dict(message))


@pytest.mark.anyio
async def test_drain_runs_hooks_then_closes_accepted_websockets_with_1001() -> None:
    drain = Drain()
    order: list[str] = []

    async def failing() -> None:
        order.append("failing")
        raise RuntimeError("hook bug")

    async def slow() -> None:
        order.append("slow")
        await anyio.sleep(60)

    async def ok() -> None:
        order.append("ok")

    for hook in (failing, slow, ok):
        drain.add_hook(hook)
    accepted_send, pending_send = _Sent(), _Sent()
    accepted = drain.open_websocket(accepted_send)
    await accepted.send({"type": "websocket.accept"})
    drain.open_websocket(pending_send)  # never accepted: nothing to close

    async def handler_leaves() -> None:
        # A handler notices the close on its next send and returns.
        with pytest.raises(WebSocketDisconnect):
            while True:
                await anyio.sleep(0.01)
                await accepted.send({"type": "websocket.send", "text": "event"})
        drain.forget(accepted)

    async with anyio.create_task_group() as tg:
        tg.start_soon(handler_leaves)
        await drain.begin(grace_seconds=0.2)
    assert order == ["failing", "slow", "ok"]  # one bad or slow hook does not stop the rest
    closes = [m for m in accepted_send.messages if m["type"] == "websocket.close"]
    assert closes == [{"type": "websocket.close", "code": 1001, "reason": "server shutting down"}]
    assert pending_send.messages == []
    assert drain.draining and drain.open_websockets == 1  # the never-accepted one remains
    await accepted.send({"type": "websocket.close", "code": 1000})  # a second close is ignored
    assert len([m for m in accepted_send.messages if m["type"] == "websocket.close"]) == 1
