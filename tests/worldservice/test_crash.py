"""Crash test: SIGKILL a server mid-stream of applies; no acknowledged apply or event is lost."""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from websockets.sync.client import connect

from app.testing import ServerProcess, serve_process
from tests.worldservice.records_support import apply_body

WORLDS = ("alpha", "beta", "gamma")
ACKED_BEFORE_KILL = 15
DEADLINE = 20.0  # hang guard for each wait, not a speed assertion
QUIET = 1.0  # seconds without a message after which a late duplicate is not expected


def _wait_until(check: Any, what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


@contextmanager
def server(db: Path, log: Path, *roles: str) -> Iterator[ServerProcess]:
    """Run ``worldgate serve`` with ``roles`` on ``db`` in a child process until the block
    ends; ready once its HTTP API answers."""
    env = {
        "WORLDGATE__STORE__SQLITE_PATH": str(db),
        "WORLDGATE__SERVER__ROLES": msgspec.json.encode(list(roles)).decode(),
        "WORLDGATE__SERVER__LOG_LEVEL": "warning",
        "WORLDGATE__OUTBOX__LEASE_SECONDS": "1.0",  # a killed publisher's rows come back soon
    }
    # Gateway: /ready once every component started; WorldService alone: its read API.
    ready = "/ready" if "gateway" in roles else "/worldservice/rebalancing/plans?limit=1"
    with serve_process(env, log_path=log, ready_path=ready, timeout=DEADLINE) as proc:
        yield proc


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
    """The plan events of the log (each call's ``audit_recorded`` event is left out)."""
    conn = sqlite3.connect(db, timeout=30.0)
    try:
        return list(conn.execute(
            "SELECT event_id, body, published_at FROM events WHERE topic != 'audit' ORDER BY seq"
        ))
    finally:
        conn.close()


def _audited_runs(db: Path) -> set[str]:
    conn = sqlite3.connect(db, timeout=30.0)
    try:
        rows = conn.execute("SELECT run_id FROM audit_log WHERE outcome = 'ok'").fetchall()
        return {run_id for (run_id,) in rows}
    finally:
        conn.close()


def _collect(ws_url: str, expected: set[str]) -> list[dict[str, Any]]:
    """Read ``/events`` from the start of the log until every ``expected`` id arrived and
    the stream has been quiet for ``QUIET`` seconds; return every event message, repeats
    included."""
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + DEADLINE
    with connect(f"{ws_url}/events?since=0&schema_version=2", max_size=None, proxy=None) as ws:
        while True:
            waiting = not expected <= {m["id"] for m in got}
            left = deadline - time.monotonic()
            if waiting and left <= 0:
                missing = sorted(expected - {m["id"] for m in got})
                raise AssertionError(f"events never delivered: {missing}")
            try:
                message = msgspec.json.decode(ws.recv(timeout=left if waiting else QUIET))
            except TimeoutError:
                if waiting:
                    continue  # the deadline check above fails the test
                return got
            assert message.get("type") != "error", message
            if "id" in message:  # control frames (subscribed, lagged, gap) have none
                assert message.get("type") not in ("lagged", "gap"), message
                got.append(message)


def test_sigkill_mid_stream_loses_no_acknowledged_apply(tmp_path: Path) -> None:
    db, log = tmp_path / "crash.sqlite3", tmp_path / "server.log"
    acked: dict[str, bytes] = {}
    stop = threading.Event()
    with server(db, log, "worldservice") as first:
        assert first.proc is not None
        proc = first.proc
        writer = threading.Thread(target=_stream, args=(first.url, acked, stop), daemon=True)
        writer.start()
        _wait_until(lambda: len(acked) >= ACKED_BEFORE_KILL, "applies to be acknowledged")
        os.kill(proc.pid, signal.SIGKILL)  # mid-stream: requests are in flight
        proc.wait()
        stop.set()
        writer.join(DEADLINE)
    assert proc.returncode == -signal.SIGKILL
    assert len(acked) >= ACKED_BEFORE_KILL
    logged = {event_id for event_id, _, _ in _events(db)}  # committed before the kill
    # An answer leaves only once its audit record is durable: every acknowledged apply is
    # on record, although the process was killed mid-stream.
    assert set(acked) <= _audited_runs(db)

    # Restart with the Gateway role too: the events must reach a WebSocket client.
    with server(db, log, "worldservice", "gateway") as restarted:
        delivered = _collect(restarted.ws_url, logged)
        # The restarted publisher resumes what the killed one left unsent.
        _wait_until(lambda: _unpublished(db) == 0, "the outbox to drain after restart")
        url = restarted.url
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
    assert set(ids) == logged, "the log changed after the restart"
    assert all(published is not None for _, _, published in events)
    by_run: dict[str, set[str]] = {}
    for event_id, body, _ in events:
        data = msgspec.json.decode(body)["data"]
        by_run.setdefault(data["run_id"], set()).add(data["world_id"])
        assert event_id in {e["id"] for e in stored[data["run_id"]]["events"]}
    for run_id in acked:
        assert msgspec.json.decode(acked[run_id]) == stored[run_id]["response"]
        assert by_run[run_id] == set(WORLDS), f"{run_id} lost events"

    # Delivery. The ControlBus is at-least-once: the restarted publisher re-publishes rows
    # the killed one may already have sent, so the bus may carry an id twice. The relay
    # drops re-delivered ids and a `since` replay never repeats one, so one connection
    # must see each id exactly once: count the repeats before deduplicating.
    seen = Counter(m["id"] for m in delivered)
    repeats = {event_id: n for event_id, n in seen.items() if n > 1}
    assert not repeats, f"ids delivered more than once on one connection: {repeats}"
    unique = {m["id"]: m for m in delivered}
    assert set(unique) == logged, "the stream and the event log differ"
    delivered_by_run: dict[str, set[str]] = {}
    for message in unique.values():
        data = message["data"]
        delivered_by_run.setdefault(data["run_id"], set()).add(data["world_id"])
    for run_id in acked:
        wanted = {e["id"] for e in stored[run_id]["events"]}
        assert wanted <= set(unique), f"{run_id}: events not delivered"
        assert delivered_by_run[run_id] == set(WORLDS), f"{run_id}: worlds not delivered"


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loopback requests must not go through a configured HTTP proxy."""
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
