"""Slow and idle connections are cut and counted; the server keeps serving meanwhile.

Against a real ``worldgate serve``: hundreds of half-sent requests (slowloris), a body that
stops half-way, and more connections than ``server.max_connections``.
"""

from __future__ import annotations

import json
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.testing import ServerProcess, serve_process, settings_env

pytestmark = pytest.mark.multiprocess

HALF_SENT = 300


def _closed_counts(url: str) -> dict[str, float]:
    text = httpx.get(url + "/metrics", timeout=10.0).text
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "worldgate_http_connections_closed_total":
                out[sample.labels["reason"]] = sample.value
    return out


def _read_until_closed(sock: socket.socket, deadline: float) -> bytes | None:
    """Everything the server sent before closing; None if it is still open at ``deadline``."""
    data = b""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            return None
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


# `worldgate serve` parses HTTP with httptools when it is installed (the `server` extra) and
# falls back to h11 when it is not: both protocols carry the guards.
_PARSERS = {
    "httptools": None,
    "h11": [sys.executable, "-c",
            "import sys; sys.modules['httptools'] = None; from app.cli import main; main()",
            "serve"],
}


@pytest.fixture(params=sorted(_PARSERS))
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerProcess]:
    env = settings_env({
        "server": {"header_timeout": 1.0, "body_timeout": 1.0, "max_connections": 600,
                   "log_format": "json"},
        "store": {"sqlite_path": str(tmp_path / "db.sqlite3")},
    })
    running = ServerProcess(env, log_path=tmp_path / "server.log",
                            command=_PARSERS[request.param])
    running.start()
    try:
        running.wait_ready()
        yield running
    finally:
        running.stop()


def test_half_sent_requests_are_cut_and_counted(server: ServerProcess) -> None:
    socks = []
    try:
        for _ in range(HALF_SENT):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=5.0)
            sock.sendall(b"POST /worldservice/rebalancing/plan HTTP/1.1\r\nHost: x\r\nConte")
            socks.append(sock)
        idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(20)]
        socks.extend(idle)
        # Meanwhile the server answers everyone else.
        with httpx.Client(timeout=10.0) as client:
            for _ in range(5):
                assert client.get(server.url + "/health").status_code == 200
        deadline = time.monotonic() + 20.0
        answers = [_read_until_closed(sock, deadline) for sock in socks]
    finally:
        for sock in socks:
            sock.close()
    assert all(a is not None for a in answers), "some half-sent requests were never cut"
    timed_out = [a for a in answers[:HALF_SENT] if a]
    assert len(timed_out) == HALF_SENT
    head, _, body = timed_out[0].partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408")
    assert json.loads(body)["code"] == "E_REQUEST_TIMEOUT"
    assert answers[HALF_SENT:] == [b""] * 20  # idle connections are closed without a word
    counts = _closed_counts(server.url)
    assert counts.get("header_timeout") == HALF_SENT
    assert counts.get("idle_timeout", 0) >= 20
    log = server.log_path.read_text()
    assert '"connection_closed"' in log and '"reason": "header_timeout"' in log
    assert "unhandled_error" not in log


def test_a_body_that_stops_half_way_is_cut(server: ServerProcess) -> None:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5.0)
    try:
        sock.sendall(
            b"POST /worldservice/rebalancing/plan HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"total_eq"
        )
        answer = _read_until_closed(sock, time.monotonic() + 20.0)
    finally:
        sock.close()
    assert answer is not None and answer.startswith(b"HTTP/1.1 408")
    assert _closed_counts(server.url).get("body_timeout") == 1
    assert httpx.get(server.url + "/health", timeout=10.0).status_code == 200
    assert "unhandled_error" not in server.log_path.read_text()


def test_connections_over_the_limit_get_503_at_once(tmp_path: Path) -> None:
    env = settings_env({
        "server": {"header_timeout": 1.0, "max_connections": 10},
        "store": {"sqlite_path": str(tmp_path / "db.sqlite3")},
    })
    with serve_process(env, log_path=tmp_path / "server.log") as server:
        socks = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(25)]
        try:
            deadline = time.monotonic() + 5.0
            refused = [_read_until_closed(s, deadline) for s in socks[10:]]
        finally:
            for sock in socks:
                sock.close()
        assert all(a is not None and a.startswith(b"HTTP/1.1 503") for a in refused), refused
        body = json.loads(refused[0].partition(b"\r\n\r\n")[2])  # type: ignore[union-attr]
        assert body["code"] == "E_SERVICE_UNAVAILABLE"
        # Once the idle ones are gone (closed here), the server serves again.
        with httpx.Client(timeout=10.0) as client:
            assert client.get(server.url + "/health").status_code == 200
        assert _closed_counts(server.url).get("over_limit", 0) >= 15


def test_serve_parses_with_httptools_on_uvloop_when_installed() -> None:
    """`worldgate serve` takes the C parser and loop of the `server` extra when they are
    installed, and falls back to h11 when httptools is not."""
    pytest.importorskip("httptools")
    from uvicorn.protocols.http.h11_impl import H11Protocol
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    from app.runtime.connections import ConnectionLimits, guarded_protocol
    from app.runtime.serving import uvicorn_config
    from app.settings import load_settings

    config = uvicorn_config(object(), load_settings(environ={}))
    assert isinstance(config.http, type) and issubclass(config.http, HttpToolsProtocol)
    assert config.loop == "auto"  # uvicorn's choice: uvloop when it is installed
    limits = ConnectionLimits(header_timeout=1.0, body_timeout=1.0, max_connections=10)
    assert issubclass(guarded_protocol(limits, lambda reason: None, parser="h11"), H11Protocol)
    with pytest.raises(ValueError, match="unknown HTTP parser"):
        guarded_protocol(limits, lambda reason: None, parser="picohttp")
