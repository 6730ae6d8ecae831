"""Helpers for the apply/allocations tests: an in-loop app with its container, bodies, reads."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from app.container import Container, build_container
from app.main import create_app
from app.settings import load_settings
from tests.controlbus.bus_support import WAIT, receive

__all__ = ["WAIT", "apply_body", "alloc_body", "receive", "running_app"]



@asynccontextmanager
async def running_app(
    tmp_path: Path, overrides: dict[str, Any] | None = None, container_hook: Any = None
) -> AsyncIterator[tuple[httpx.AsyncClient, Container]]:
    """Run the app (lifespan included) in the test's own event loop, so the test can
    subscribe to the app's in-memory ControlBus; yield an HTTP client and the container.

    ``container_hook(container)`` may override providers before the app is built.
    """
    base: dict[str, Any] = {
        "store": {"sqlite_path": str(tmp_path / "records.sqlite3")},
        "server": {"roles": ["worldservice"]},
    }
    for key, value in (overrides or {}).items():
        base[key] = {**base.get(key, {}), **value}
    container = build_container(load_settings(environ={}, overrides=base))
    if container_hook is not None:
        container_hook(container)
    app = create_app(container=container)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.lifespan(),
        httpx.AsyncClient(transport=transport, base_url="http://worldgate.test") as client,
    ):
        yield client, container


def apply_body(
    run_id: str | None = None, worlds: tuple[str, ...] = ("a", "b"), **extra: Any
) -> dict[str, Any]:
    """An apply body moving 10% of the allocation from the first world to the others."""
    share = 1.0 / len(worlds)
    after = {w: share for w in worlds}
    after[worlds[0]] = max(0.0, share - 0.1)
    body: dict[str, Any] = {
        "total_equity": 100_000.0,
        "world_alloc_before": {w: share for w in worlds},
        "world_alloc_after": after,
        "positions": [
            {"world_id": w, "strategy_id": f"s{i}", "symbol": f"SYM{i}", "qty": 10.0 + i,
             "mark": 100.0}
            for i, w in enumerate(worlds)
        ],
    }
    if run_id is not None:
        body["run_id"] = run_id
    body.update(extra)
    return body


def alloc_body(run_id: str, allocations: dict[str, float], **extra: Any) -> dict[str, Any]:
    """An allocations body with one position per world."""
    body: dict[str, Any] = {
        "run_id": run_id,
        "total_equity": 100_000.0,
        "world_allocations": allocations,
        "positions": [
            {"world_id": w, "strategy_id": "s", "symbol": f"SYM_{w}", "qty": 100.0, "mark": 10.0}
            for w in allocations
        ],
    }
    body.update(extra)
    return body


