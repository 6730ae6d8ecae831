"""API keys across two processes sharing one PostgreSQL store: a key created on one works on
the other, and a key revoked on one is refused by the other within 5 seconds (its open
WebSocket there is closed too); both write to the one audit log."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from app.contracts.keys import SCOPES
from tests.integration.cluster import Node, create_schema, drop_scaleout, scaleout_env
from tests.services import postgres_dsn, redis_url, unique_name

pytestmark = [pytest.mark.anyio, pytest.mark.multiprocess, pytest.mark.redis, pytest.mark.postgres]

ROOT = "root-secret-scaleout-81f2"
WAIT = 30  # seconds: a hang guard for start-up, not a speed assertion
REVOCATION_BOUND = 5.0  # the bound the deployment promises (docs/security.md, Revocation)


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
async def processes(tmp_path: Path) -> AsyncIterator[tuple[Node, Node]]:
    """Two processes (both roles) on a fresh PostgreSQL schema and Redis prefix, with one
    configured root key."""
    redis, dsn = redis_url(), postgres_dsn()
    schema, prefix = unique_name("wgkeys"), unique_name("wgkeys")
    root = {"id": "root", "name": "root", "scopes": list(SCOPES),
            "secret_sha256": hashlib.sha256(ROOT.encode()).hexdigest()}
    env = {
        **scaleout_env(redis, prefix, await create_schema(dsn, schema)),
        "WORLDGATE__SECURITY__KEYS": json.dumps([root]),
    }
    nodes = [Node(f"node{i}", ["worldservice", "gateway"], env, tmp_path) for i in (1, 2)]
    try:
        for node in nodes:
            node.start()
        for node in nodes:
            await anyio.to_thread.run_sync(node.wait_ready)
        yield nodes[0], nodes[1]
    finally:
        for node in nodes:
            await anyio.to_thread.run_sync(node.kill)
        await drop_scaleout(dsn, schema, redis, prefix)


async def wait_for_status(http: httpx.AsyncClient, url: str, secret: str, status: int,
                          within: float) -> tuple[float, httpx.Response]:
    """Poll ``GET url`` with ``secret`` until it answers ``status``; return the seconds it
    took and the answer (fails after ``within`` seconds)."""
    started = time.monotonic()
    with anyio.fail_after(within):
        while True:
            answer = await http.get(url, headers=bearer(secret))
            if answer.status_code == status:
                return time.monotonic() - started, answer
            await anyio.sleep(0.05)


async def test_a_key_revoked_on_one_process_is_refused_by_the_other(
    processes: tuple[Node, Node],
) -> None:
    one, two = processes
    closed: list[dict[str, Any]] = []
    async with httpx.AsyncClient(timeout=10.0) as http:
        created = await http.post(one.url + "/keys", headers=bearer(ROOT),
                                  json={"name": "bot", "scopes": ["read"]})
        assert created.status_code == 201, created.text
        key_id, secret = created.json()["key"]["id"], created.json()["secret"]
        # Created on one, usable on two once two has reloaded its keys.
        await wait_for_status(http, two.url + "/risk/state", secret, 200, REVOCATION_BOUND)

        async with connect(two.ws_url + "/events", additional_headers=bearer(secret)) as ws:
            assert json.loads(await ws.recv())["type"] == "subscribed"
            revoked = await http.post(one.url + f"/keys/{key_id}/revoke", headers=bearer(ROOT),
                                      json={"reason": "scale-out drill"})
            assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
            took, refused = await wait_for_status(http, two.url + "/risk/state", secret, 401,
                                                  REVOCATION_BOUND)
            assert took < REVOCATION_BOUND
            assert refused.json()["code"] == "E_UNAUTHORIZED"
            assert "revoked" in refused.json()["detail"]
            # Its open WebSocket on two is cut off as well.
            with anyio.fail_after(REVOCATION_BOUND):
                try:
                    while True:
                        closed.append(json.loads(await ws.recv()))
                except ConnectionClosed as exc:
                    assert exc.rcvd is not None and exc.rcvd.code == 1008
        assert closed and closed[-1]["code"] == "E_UNAUTHORIZED"

        # One audit log for the deployment: two's refusal is readable through one.
        audit = await http.get(one.url + "/audit", headers=bearer(ROOT),
                               params={"key": key_id, "outcome": "denied"})
        assert audit.status_code == 200
        reasons = {(e["route"], e["reason"]) for e in audit.json()["entries"]}
        assert ("/risk/state", "key_revoked") in reasons
        revocations = await http.get(one.url + "/audit", headers=bearer(ROOT),
                                     params={"route": "/keys/{key_id}/revoke"})
        (entry,) = revocations.json()["entries"]
        assert entry["reason"] == f"revoked {key_id} (bot): scale-out drill"
        assert entry["key_id"] == "root"
