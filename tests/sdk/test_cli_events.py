"""``worldgate events``: JSON lines, and ``--follow`` resuming after cut connections and a
server restart without losing or repeating an event."""

from __future__ import annotations

import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import msgspec
import pytest

from app.contracts.rebalancing import PositionSlice, RebalanceRequest
from app.sdk.client import GatewayClient
from app.testing import ServerProcess, settings_env, tcp_listener
from tests.sdk.test_cli_gateway import run

ROOT = Path(__file__).resolve().parents[2]
WAIT = 30.0  # a hang guard, not a speed check


def _request(world: str) -> RebalanceRequest:
    return RebalanceRequest(
        total_equity=1000.0, world_alloc_before={world: 0.5}, world_alloc_after={world: 0.25},
        positions=[PositionSlice(world_id=world, strategy_id="s", symbol="X", qty=5.0,
                                 mark=100.0)],
    )


class CuttableProxy:
    """A TCP relay to ``upstream`` whose connections the test can cut and refuse."""

    def __init__(self, upstream: int) -> None:
        self.upstream = upstream
        self.listener = tcp_listener(reuse_address=True)
        self.listener.listen(16)
        self.port: int = self.listener.getsockname()[1]
        self.refusing = threading.Event()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.refusing.is_set():
                client.close()
                continue
            try:
                server = socket.create_connection(("127.0.0.1", self.upstream), timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._pairs.append((client, server))
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self) -> None:
        """Drop every open connection (as a network failure would)."""
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for s in pair:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def close(self) -> None:
        self.cut()
        self.listener.close()


def _lines(stream: IO[str], readers: list[threading.Thread]) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in stream:
            lines.put(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    readers.append(reader)
    return lines


def _take(lines: queue.Queue[str], count: int, what: str) -> list[str]:
    out = []
    deadline = time.monotonic() + WAIT
    while len(out) < count:
        try:
            out.append(lines.get(timeout=max(0.01, deadline - time.monotonic())))
        except queue.Empty:
            pytest.fail(f"waited for {count} {what}, got {out}")
    return out


def _wait_for(lines: queue.Queue[str], needle: str, seen: list[str]) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.1)
        except queue.Empty:
            continue
        seen.append(line)
        if needle in line:
            return
    pytest.fail(f"no {needle!r} on stderr: {seen}")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    env = settings_env({"server": {"log_level": "warning"},
                        "store": {"sqlite_path": str(tmp_path / "events.sqlite3")}})
    proc = ServerProcess(env, log_path=tmp_path / "server.log")
    proc.start()
    proc.wait_ready()
    yield proc
    proc.kill()


def _apply(url: str, run_id: str) -> None:
    with GatewayClient(url) as client:
        client.apply(_request("follow-w"), run_id=run_id)


def test_follow_resumes_after_cuts_and_a_restart(server: ServerProcess) -> None:
    proxy = CuttableProxy(server.port)
    follower = subprocess.Popen(
        [sys.executable, "-c", "from app.cli import main; main()", "events", "--follow",
         "--url", f"http://127.0.0.1:{proxy.port}", "--topic", "rebalancing_planned",
         "--world", "follow-w"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert follower.stdout is not None and follower.stderr is not None
    readers: list[threading.Thread] = []
    out, err = _lines(follower.stdout, readers), _lines(follower.stderr, readers)
    notices: list[str] = []
    try:
        _wait_for(err, "connected", notices)
        _apply(server.url, "f-1")
        _apply(server.url, "f-2")
        got = _take(out, 2, "events")
        # The connection drops and stays down while two plans are applied.
        proxy.refusing.set()
        proxy.cut()
        _wait_for(err, "reconnecting", notices)
        _apply(server.url, "f-3")
        _apply(server.url, "f-4")
        proxy.refusing.clear()
        got += _take(out, 2, "replayed events")
        # The server restarts (SIGTERM: clients see 1001) on the same port and store.
        server.stop()
        server.start()
        server.wait_ready()
        _apply(server.url, "f-5")
        got += _take(out, 1, "events after the restart")
    finally:
        follower.terminate()
        follower.wait(10)
        for reader in readers:  # they end at the pipes' EOF
            reader.join(10)
        follower.stdout.close()
        follower.stderr.close()
        proxy.close()
    events: list[dict[str, Any]] = [msgspec.json.decode(line) for line in got]
    assert [e["data"]["run_id"] for e in events] == ["f-1", "f-2", "f-3", "f-4", "f-5"]
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(set(seqs))
    assert out.empty()  # nothing repeated


def test_events_without_follow_prints_and_stops(server: ServerProcess) -> None:
    _apply(server.url, "once-1")
    _apply(server.url, "once-2")
    code, out, err = run("events", "--url", server.url, "--since", "0", "--idle", "1",
                         "--topic", "rebalancing_planned", "--schema-version", "1")
    assert code == 0, err
    events = [msgspec.json.decode(line) for line in out.splitlines()]
    assert [e["data"]["run_id"] for e in events] == ["once-1", "once-2"]
    assert all("alpha_metrics" not in e["data"] for e in events)
    code, out, _ = run("events", "--url", server.url, "--since", "0", "--count", "1")
    assert code == 0 and len(out.splitlines()) == 1


def test_events_refusals(server: ServerProcess) -> None:
    code, _, err = run("events", "--url", server.url, "--topic", "nope", "--idle", "1")
    assert code == 1 and "E_UNKNOWN_TOPIC" in err
    server.stop()
    code, _, err = run("events", "--url", server.url, "--idle", "1", "--timeout", "2")
    assert code == 2 and err.startswith("unreachable: ")
