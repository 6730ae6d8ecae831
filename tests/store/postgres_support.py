"""A PostgreSQL store for tests: its own schema, dropped when the store stops."""

from __future__ import annotations

import asyncpg

from app.store.adapters.postgres import PostgresStore
from tests.services import postgres_dsn, unique_name

__all__ = ["TestPostgresStore", "drop_schema", "make_postgres_store"]


async def drop_schema(dsn: str, schema: str) -> None:
    """Drop ``schema`` and everything in it."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await conn.close()


class TestPostgresStore(PostgresStore):
    """Drops its schema on ``close`` unless ``keep_schema`` (a test re-opens it)."""

    __test__ = False  # not a pytest test class
    keep_schema = False

    async def close(self) -> None:
        await super().close()
        if self.schema and not self.keep_schema:
            await drop_schema(self.dsn, self.schema)


def make_postgres_store(pool_size: int = 4) -> TestPostgresStore:
    """An unstarted store in a fresh schema (skips/fails as ``tests.services`` says)."""
    return TestPostgresStore(postgres_dsn(), pool_size=pool_size, schema=unique_name("wgtest"))
