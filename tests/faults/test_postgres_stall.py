"""PostgreSQL stalls (packets held, nothing reset): bounded 503s, honest readiness, a clean
shutdown within ``server.shutdown_timeout``, and nothing half-recorded."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import anyio
import httpx
import pytest

from app.testing import ServerProcess, settings_env
from tests.faults.proxy import FaultProxy
from tests.gateway.factories import request_body
from tests.integration.cluster import create_schema
from tests.services import postgres_dsn, unique_name
from tests.store.postgres_support import drop_schema

pytestmark = [pytest.mark.anyio, pytest.mark.multiprocess, pytest.mark.postgres]

STATEMENT_TIMEOUT = 2.0
SHUTDOWN_TIMEOUT = 6.0
APPLY = "/worldservice/rebalancing/apply"


@dataclass
class Rig:
    server: ServerProcess
    proxy: FaultProxy


def _via(proxy: FaultProxy, dsn: str) -> str:
    parts = urlsplit(dsn)
    netloc = parts.netloc.rsplit("@", 1)
    userinfo = netloc[0] + "@" if len(netloc) == 2 else ""
    return parts._replace(netloc=f"{userinfo}{proxy.address}").geturl()


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    dsn, schema = postgres_dsn(), unique_name("wgfault")
    schema_dsn = await create_schema(dsn, schema)
    host, port = urlsplit(dsn).hostname or "127.0.0.1", urlsplit(dsn).port or 5432
    with FaultProxy(host, port) as proxy:
        server = ServerProcess(
            settings_env({
                "store": {"backend": "postgres", "postgres_dsn": _via(proxy, schema_dsn),
                          "postgres_pool_size": 4, "postgres_connect_timeout": 1.0,
                          "postgres_statement_timeout": STATEMENT_TIMEOUT},
                "server": {"shutdown_timeout": SHUTDOWN_TIMEOUT, "log_format": "json"},
                "gateway": {"health_cache_seconds": 0.2},
            }),
            log_path=tmp_path / "server.log",
        )
        server.start()
        try:
            await anyio.to_thread.run_sync(server.wait_ready)
            yield Rig(server, proxy)
        finally:
            await anyio.to_thread.run_sync(server.kill)
    await drop_schema(dsn, schema)


async def _timed(client: httpx.AsyncClient, method: str, path: str,
                 body: dict[str, object] | None = None) -> tuple[int, str, float]:
    started = time.monotonic()
    response = await client.request(method, path, json=body)
    code = response.json().get("code", "") if response.status_code >= 400 else ""
    return response.status_code, code, time.monotonic() - started


async def test_a_stalled_postgres_costs_bounded_503s_and_a_clean_shutdown(rig: Rig) -> None:
    server, proxy = rig.server, rig.proxy
    async with httpx.AsyncClient(base_url=server.url, timeout=30.0) as client:
        first = await client.post(APPLY, json=request_body(run_id="before-stall"))
        assert first.status_code == 200, first.text

        proxy.stall()
        results: list[tuple[int, str, float]] = []

        async def call(method: str, path: str, body: dict[str, object] | None) -> None:
            results.append(await _timed(client, method, path, body))

        async with anyio.create_task_group() as tg:
            for i in range(6):
                tg.start_soon(call, "POST", APPLY, request_body(run_id=f"stalled-{i}"))
            tg.start_soon(call, "GET", "/worldservice/rebalancing/plans", None)
            tg.start_soon(call, "POST", "/rebalancing/execute?submit=true",
                          request_body(total_equity=5.0))
        assert all(status in (503, 403) for status, _, _ in results), results
        stored = [(s, c) for s, c, _ in results if s == 503]
        assert stored and all(c == "E_STORE_UNAVAILABLE" for _, c in stored), results
        # Each one within the configured bound (plus room for a busy machine).
        assert max(elapsed for _, _, elapsed in results) < STATEMENT_TIMEOUT + 4.0, results
        ready = await client.get("/ready")
        assert ready.status_code == 503 and ready.json()["code"] == "E_NOT_READY"

        # SIGTERM while PostgreSQL still holds every packet, with a request in flight.
        async with anyio.create_task_group() as tg:
            tg.start_soon(call, "POST", APPLY, request_body(run_id="during-shutdown"))
            await anyio.sleep(0.3)
            proc = server.proc
            assert proc is not None
            started = time.monotonic()
            await anyio.to_thread.run_sync(server.stop, SHUTDOWN_TIMEOUT + 5.0)
            took = time.monotonic() - started
            code = proc.returncode
    assert code == 0, server.tail()
    assert took <= SHUTDOWN_TIMEOUT + 1.0, (took, server.tail())
    log = server.log_path.read_text()
    assert "shutdown_deadline_exceeded" not in log

    # Healed and restarted: nothing that got a 503 was recorded; a retry records it once.
    proxy.heal()
    server.start()
    await anyio.to_thread.run_sync(server.wait_ready)
    async with httpx.AsyncClient(base_url=server.url, timeout=30.0) as client:
        plans = (await client.get("/worldservice/rebalancing/plans")).json()["plans"]
        assert [p["run_id"] for p in plans] == ["before-stall"]
        retry = await client.post(APPLY, json=request_body(run_id="stalled-0"))
        assert retry.status_code == 200 and retry.headers["x-idempotent-replay"] == "false"
