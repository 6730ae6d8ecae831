"""Apps on each store backend: the same test runs against SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from dependency_injector import providers
from litestar import Litestar
from litestar.testing import TestClient

from app.container import Container, build_container
from app.main import create_app
from app.settings import load_settings, merge_tables
from tests.store.postgres_support import make_postgres_store

__all__ = ["BACKENDS", "backend_app", "backend_client", "start_client"]

BACKENDS = ["sqlite", "postgres"]


def backend_app(
    backend: str, folder: Path, overrides: dict[str, Any] | None = None
) -> tuple[Litestar, Container]:
    """An app on ``backend`` and its container (not started).

    SQLite keeps its file in ``folder``; PostgreSQL gets a fresh schema, dropped when the
    app stops (without a server the test skips, or fails under ``.ci/run``).
    """
    base: dict[str, Any] = {"store": {"sqlite_path": str(folder / "worldgate.sqlite3")}}
    settings = load_settings(environ={}, overrides=merge_tables(base, overrides or {}))
    container = build_container(settings)
    if backend == "postgres":
        container.store.override(providers.Object(make_postgres_store()))
    return create_app(container=container), container


def start_client(backend: str, folder: Path, overrides: dict[str, Any] | None = None
                 ) -> TestClient[Any]:
    """An entered ``TestClient`` of an app on ``backend`` (exit it when done)."""
    app, _ = backend_app(backend, folder, overrides)
    client = TestClient(app, raise_server_exceptions=False)
    client.__enter__()
    return client


@pytest.fixture(params=BACKENDS)
def backend_client(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[..., TestClient[Any]]]:
    """Start apps (lifespan included) on the parametrised store backend; stopped after."""
    clients: list[TestClient[Any]] = []

    def build(overrides: dict[str, Any] | None = None) -> TestClient[Any]:
        folder = tmp_path / f"app{len(clients)}"
        folder.mkdir()
        clients.append(start_client(request.param, folder, overrides))
        return clients[-1]

    yield build
    for client in reversed(clients):
        client.__exit__(None, None, None)
