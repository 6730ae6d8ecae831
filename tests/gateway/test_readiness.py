"""Readiness tells the truth: a store that refuses writes makes ``/ready`` 503."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar.testing import TestClient

from app.container import build_container
from app.main import create_app
from app.settings import Settings
from app.store.adapters.sqlite import SqliteStore
from tests.gateway.factories import request_body


def _set_read_only(client: TestClient[Any], store: SqliteStore, on: bool) -> None:
    """Make the store's file read-only for its writer, as a read-only file or mount does
    (the tests run as root, for whom file modes do not stop writes)."""

    async def switch() -> None:
        async with store._writes.lock:  # between transactions of the writer connection
            assert store._writer is not None
            store._writer.execute(f"PRAGMA query_only = {int(on)}")

    assert client.blocking_portal is not None
    client.blocking_portal.call(switch)


def test_a_read_only_store_makes_the_gateway_not_ready(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings({"gateway": {"health_cache_seconds": 0}})
    container = build_container(settings)
    store = container.store()
    assert isinstance(store, SqliteStore)
    with TestClient(create_app(container=container)) as client:
        assert client.get("/ready").status_code == 200
        assert client.get("/health").json()["store"] == "ok"
        _set_read_only(client, store, True)
        ready = client.get("/ready")
        assert ready.status_code == 503, ready.text
        assert ready.json()["code"] == "E_NOT_READY"
        assert "writes" in ready.json()["detail"]
        health = client.get("/health").json()
        assert (health["status"], health["store"]) == ("degraded", "down")
        applied = client.post("/worldservice/rebalancing/apply", json=request_body(run_id="ro"))
        assert applied.status_code == 503
        _set_read_only(client, store, False)
        assert client.get("/ready").status_code == 200
        assert client.get("/health").json()["status"] == "ok"
