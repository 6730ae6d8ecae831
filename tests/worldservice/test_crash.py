"""Crash test: SIGKILL a real server mid-stream of applies; nothing acknowledged is lost."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from tests.worldservice.records_support import apply_body

WORLDS = ("alpha", "beta", "gamma")
ACKED_BEFORE_KILL = 15
DEADLINE = 20.0  # hang guard for each wait, not a speed assertion
REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_until(check: Any, what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


@contextmanager
def server(db: Path, log: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """Run ``worldgate serve`` on ``db`` in a child process; yield it and its base URL."""
    port = _free_port()
    env = {
        **os.environ,
        "WORLDGATE__STORE__SQLITE_PATH": str(db),
        "WORLDGATE__SERVER__ROLES": '["worldservice"]',
        "WORLDGATE__SERVER__LOG_LEVEL": "warning",
        "WORLDGATE__OUTBOX__LEASE_SECONDS": "1.0",  # a killed publisher's rows come back soon
    }
    # `worldgate serve`, run from the repository root so `app` is this checkout's package.
    command = [sys.executable, "-c", "from app.cli import main; main()", "serve", "--port",
               str(port)]
    with log.open("ab") as out:
        proc = subprocess.Popen(
            command, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"server exited early: {log.read_text()[-2000:]}")
        try:
            return httpx.get(f"{url}/worldservice/rebalancing/plans?limit=1").status_code == 200
        except httpx.HTTPError:
            return False

    try:
        _wait_until(ready, "the server to answer")
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _stream(url: str, acked: dict[str, bytes], stop: threading.Event) -> None:
    """Apply run after run until the server dies; keep the answers that were 2xx."""
    with httpx.Client(base_url=url, timeout=10.0) as client:
        i = 0
        while not stop.is_set():
            run_id = f"crash-{i}"
            try:
                answer = client.post(
                    "/worldservice/rebalancing/apply", json=apply_body(run_id, WORLDS)
                )
            except httpx.HTTPError:
                return  # the server was killed: this one's outcome is unknown
            if 200 <= answer.status_code < 300:
                acked[run_id] = answer.content
            i += 1


def _unpublished(db: Path) -> int:
    conn = sqlite3.connect(db, timeout=30.0)
    try:
        sql = "SELECT COUNT(*) FROM events WHERE published_at IS NULL"
        return int(conn.execute(sql).fetchone()[0])
    finally:
        conn.close()


def _events(db: Path) -> list[tuple[str, bytes, float | None]]:
    conn = sqlite3.connect(db, timeout=30.0)
    try:
        return list(conn.execute("SELECT event_id, body, published_at FROM events ORDER BY seq"))
    finally:
        conn.close()


def test_sigkill_mid_stream_loses_no_acknowledged_apply(tmp_path: Path) -> None:
    db, log = tmp_path / "crash.sqlite3", tmp_path / "server.log"
    acked: dict[str, bytes] = {}
    stop = threading.Event()
    with server(db, log) as (proc, url):
        writer = threading.Thread(target=_stream, args=(url, acked, stop), daemon=True)
        writer.start()
        _wait_until(lambda: len(acked) >= ACKED_BEFORE_KILL, "applies to be acknowledged")
        os.kill(proc.pid, signal.SIGKILL)  # mid-stream: requests are in flight
        proc.wait()
        stop.set()
        writer.join(DEADLINE)
    assert proc.returncode == -signal.SIGKILL
    assert len(acked) >= ACKED_BEFORE_KILL

    with server(db, log) as (_, url):
        # The restarted publisher resumes what the killed one left unsent.
        _wait_until(lambda: _unpublished(db) == 0, "the outbox to drain after restart")
        plans = httpx.get(f"{url}/worldservice/rebalancing/plans", params={"limit": 1000}).json()
        replay_id = sorted(acked)[0]
        replay = httpx.post(
            f"{url}/worldservice/rebalancing/apply", json=apply_body(replay_id, WORLDS)
        )
    assert replay.status_code == 200 and replay.content == acked[replay_id]

    stored = {p["run_id"]: p for p in plans["plans"]}
    missing = sorted(set(acked) - set(stored))
    assert not missing, f"acknowledged applies lost: {missing}"
    events = _events(db)
    ids = [event_id for event_id, _, _ in events]
    assert len(ids) == len(set(ids)), "an event id was stored twice"
    assert all(published is not None for _, _, published in events)
    by_run: dict[str, set[str]] = {}
    for event_id, body, _ in events:
        data = msgspec.json.decode(body)["data"]
        by_run.setdefault(data["run_id"], set()).add(data["world_id"])
        assert event_id in {e["id"] for e in stored[data["run_id"]]["events"]}
    for run_id in acked:
        assert msgspec.json.decode(acked[run_id]) == stored[run_id]["response"]
        assert by_run[run_id] == set(WORLDS), f"{run_id} lost events"


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loopback requests must not go through a configured HTTP proxy."""
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
