"""Run Worldgate server processes (``worldgate serve``) for multi-process tests and benchmarks."""

from __future__ import annotations

from pathlib import Path

import asyncpg
from redis.asyncio import Redis

from app.testing import ServerProcess
from tests.store.postgres_support import drop_schema

__all__ = ["Node", "create_schema", "drop_scaleout", "scaleout_env"]


def scaleout_env(redis_url: str, stream_prefix: str, postgres_dsn: str) -> dict[str, str]:
    """Environment overrides putting a process on Redis Streams and PostgreSQL."""
    return {
        "WORLDGATE__CONTROLBUS__BACKEND": "redis",
        "WORLDGATE__CONTROLBUS__REDIS_URL": redis_url,
        "WORLDGATE__CONTROLBUS__STREAM_PREFIX": stream_prefix,
        "WORLDGATE__STORE__BACKEND": "postgres",
        "WORLDGATE__STORE__POSTGRES_DSN": postgres_dsn,
        "WORLDGATE__STORE__POSTGRES_POOL_SIZE": "4",
    }


async def create_schema(dsn: str, schema: str) -> str:
    """Create a PostgreSQL schema; return ``dsn`` with ``search_path`` set to it."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
    finally:
        await conn.close()
    sep = "&" if "?" in dsn else "?"
    return f"{dsn}{sep}search_path={schema}"


async def drop_scaleout(dsn: str, schema: str, redis_url: str, stream_prefix: str) -> None:
    """Drop the PostgreSQL schema and delete the Redis keys under ``stream_prefix``."""
    await drop_schema(dsn, schema)
    async with Redis.from_url(redis_url) as redis:
        keys = [key async for key in redis.scan_iter(match=f"{stream_prefix}:*")]
        if keys:
            await redis.delete(*keys)


class Node(ServerProcess):
    """One ``worldgate serve`` process with some roles, JSON logs in ``<log_dir>/<name>.log``.

    Args:
        name: a label (log and SQLite file names).
        roles: the ``server.roles`` it runs.
        env: extra ``WORLDGATE__...`` overrides.
        log_dir: where ``<name>.log`` is written.
        port: the port (a free one when None); kept across restarts.
    """

    def __init__(
        self,
        name: str,
        roles: list[str],
        env: dict[str, str],
        log_dir: Path,
        port: int | None = None,
    ) -> None:
        self.name = name
        self.roles = roles
        super().__init__(
            {
                "WORLDGATE__SERVER__ROLES": "[" + ", ".join(f'"{r}"' for r in roles) + "]",
                "WORLDGATE__SERVER__LOG_FORMAT": "json",
                "WORLDGATE__SERVER__SHUTDOWN_TIMEOUT": "3",
                "WORLDGATE__STORE__SQLITE_PATH": str(log_dir / f"{name}.sqlite3"),
                **env,
            },
            log_path=log_dir / f"{name}.log",
            port=port,
            ready_path="/ready" if "gateway" in roles else "/worldservice/capabilities",
        )

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM: a graceful shutdown (SIGKILL after ``timeout`` seconds)."""
        super().stop(timeout)
