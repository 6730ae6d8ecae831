"""API keys and the audit log: what a request pays for access control and for its audit
record.

1. ``KeyRing.authenticate`` in-process against 1,000 keys (a SHA-256 and a lookup).
2. A real ``worldgate serve`` (uvicorn, SQLite): sequential ``GET /risk/state`` (a read: no
   audit record) and ``PUT /risk/state`` (audited: its record is written before the answer)
   on an open deployment and with keys, median latency.
3. The audit trail alone on SQLite: records written one at a time, then by 64 concurrent
   writers (group commit: records per transaction).
"""

from __future__ import annotations

import hashlib
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import anyio
import httpx

from app.contracts.audit import AuditRecord
from app.contracts.keys import SCOPES, ApiKey
from app.contracts.risk import iso_time
from app.store.adapters.sqlite import SqliteStore
from app.testing import serve_process
from app.web.audit import AuditTrail
from app.web.keys import KeyRing

KEYS = 1_000
AUTH_CALLS = 50_000
HTTP_ROUNDS = 300
AUDIT_SEQUENTIAL = 200
AUDIT_CONCURRENT = 2_000
WRITERS = 64
SECRET = "bench-secret-0001"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def _authenticate(folder: Path) -> float:
    store = SqliteStore(folder / "auth.sqlite3")
    await store.start()
    try:
        keys = [ApiKey(id=f"k{i}", name=f"k{i}", scopes=["read"],
                       secret_sha256=_digest(f"secret-{i}"), source="config")
                for i in range(KEYS)]
        ring = KeyRing(store, keys)
        header = "Bearer secret-500"
        best = float("inf")
        for _ in range(5):
            started = time.perf_counter()
            for _ in range(AUTH_CALLS):
                ring.authenticate(header)
            best = min(best, (time.perf_counter() - started) / AUTH_CALLS)
        return best
    finally:
        await store.close()


def _record() -> AuditRecord:
    now = time.time()
    return AuditRecord(id=uuid.uuid4().hex, at=now, time=iso_time(now), key_id="k",
                       key_name="bench", method="PUT", route="/risk/state", path="/risk/state",
                       status=200, outcome="ok", reason="bench")


async def _audit(folder: Path) -> tuple[float, float, float]:
    store = SqliteStore(folder / "audit.sqlite3")
    await store.start()
    try:
        trail = AuditTrail(store)
        started = time.perf_counter()
        for _ in range(AUDIT_SEQUENTIAL):
            await trail.record(_record())
        one_by_one = (time.perf_counter() - started) / AUDIT_SEQUENTIAL
        trail.written = trail.commits = 0
        per_writer = AUDIT_CONCURRENT // WRITERS

        async def writer() -> None:
            for _ in range(per_writer):
                await trail.record(_record())

        started = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for _ in range(WRITERS):
                tg.start_soon(writer)
        concurrent = (time.perf_counter() - started) / (per_writer * WRITERS)
        return one_by_one, concurrent, trail.written / max(1, trail.commits)
    finally:
        await store.close()


def _median_ms(client: httpx.Client, method: str, path: str, **kw: Any) -> float:
    for _ in range(10):  # warm-up
        client.request(method, path, **kw).raise_for_status()
    times = []
    for _ in range(HTTP_ROUNDS):
        started = time.perf_counter()
        client.request(method, path, **kw).raise_for_status()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e3


def _http(folder: Path, keyed: bool) -> tuple[float, float]:
    env = {"WORLDGATE__SERVER__LOG_LEVEL": "warning",
           "WORLDGATE__STORE__SQLITE_PATH": str(folder / f"http-{keyed}.sqlite3")}
    headers: dict[str, str] = {}
    if keyed:
        env["WORLDGATE__SECURITY__KEYS"] = json.dumps([
            {"id": "bench", "name": "bench", "scopes": list(SCOPES),
             "secret_sha256": _digest(SECRET)}])
        headers = {"Authorization": f"Bearer {SECRET}"}
    with (
        serve_process(env, log_path=folder / f"server-{keyed}.log") as server,
        httpx.Client(base_url=server.url, timeout=30, headers=headers) as client,
    ):
        read = _median_ms(client, "GET", "/risk/state")
        change = _median_ms(client, "PUT", "/risk/state",
                            json={"state": "ACTIVE", "reason": "bench"})
    return read, change


def main() -> None:
    """Print the three measures."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        per_call = anyio.run(_authenticate, folder)
        print(f"KeyRing.authenticate, {KEYS:,} keys:        {per_call * 1e6:8.2f} µs per call")
        one, many, batch = anyio.run(_audit, folder)
        print(f"audit record, one at a time (SQLite):  {one * 1e3:8.3f} ms per record")
        print(f"audit record, {WRITERS} concurrent writers:  {many * 1e3:8.3f} ms per record "
              f"({batch:.1f} records per transaction)")
        open_read, open_change = _http(folder, keyed=False)
        keyed_read, keyed_change = _http(folder, keyed=True)
        print(f"HTTP median, {HTTP_ROUNDS} sequential calls     open      with keys")
        print(f"  GET /risk/state (not audited)     {open_read:8.2f} ms {keyed_read:8.2f} ms")
        print(f"  PUT /risk/state (audited)         {open_change:8.2f} ms {keyed_change:8.2f} ms")


if __name__ == "__main__":
    main()
