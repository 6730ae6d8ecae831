"""Shared fixtures: anyio on asyncio, settings on a per-test SQLite file, an app client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings
from litestar.testing import TestClient

from app.main import create_app
from app.settings import Settings, load_settings, merge_tables

# Headless Chromium fixtures (``chromium``, ``browser_page``) for any test that renders pages.
pytest_plugins = ["tests.browser_support"]

# Property tests judge behaviour, never speed (the machine is shared and noisy), and write no
# example database into the work tree.
hypothesis_settings.register_profile("worldgate", deadline=None, database=None)
hypothesis_settings.load_profile("worldgate")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"



@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Build settings from the embedded defaults plus nested overrides, isolated per test.

    The SQLite file lives in the test's tmp dir; the real environment is not read.
    """

    def build(overrides: dict[str, Any] | None = None) -> Settings:
        base: dict[str, Any] = {"store": {"sqlite_path": str(tmp_path / "worldgate.sqlite3")}}
        return load_settings(environ={}, overrides=merge_tables(base, overrides or {}))

    return build


@pytest.fixture
def make_client(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., TestClient[Any]]]:
    """Start an app (lifespan included) for the given overrides; closed after the test."""
    clients: list[TestClient[Any]] = []

    def build(overrides: dict[str, Any] | None = None) -> TestClient[Any]:
        client = TestClient(create_app(make_settings(overrides)))
        client.__enter__()
        clients.append(client)
        return client

    yield build
    for client in reversed(clients):
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient[Any]]) -> TestClient[Any]:
    """An app on the default settings."""
    return make_client()


@pytest.fixture
def v2_client(make_client: Callable[..., TestClient[Any]]) -> TestClient[Any]:
    """An app with WorldService v2 and a v2, alpha-capable Gateway."""
    return make_client(
        {
            "worldservice": {"server": {"compat_rebalance_v2": True}},
            "gateway": {"rebalance_schema_version": 2, "alpha_metrics_capable": True},
        }
    )
