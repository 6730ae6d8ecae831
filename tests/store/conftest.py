"""Store adapters under contract test: add a networked adapter's factory to STORE_FACTORIES."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from app.store.adapters.sqlite import SqliteStore
from app.store.ports import Store
from tests.store.postgres_support import make_postgres_store

StoreFactory = Callable[[Path], Awaitable[Store]]


async def _sqlite(tmp_path: Path) -> Store:
    return SqliteStore(tmp_path / "var" / "store.sqlite3")


# name -> async factory of an unstarted, empty store isolated from every other test (its
# own file, schema or database). A factory may call ``pytest.skip`` when its server is not
# available.
async def _postgres(tmp_path: Path) -> Store:
    return make_postgres_store()


STORE_FACTORIES: dict[str, StoreFactory] = {"sqlite": _sqlite, "postgres": _postgres}


@pytest.fixture(params=sorted(STORE_FACTORIES))
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """A started store of every registered adapter; stopped after the test."""
    instance = await STORE_FACTORIES[request.param](tmp_path)
    await instance.start()
    try:
        yield instance
    finally:
        await instance.close()
