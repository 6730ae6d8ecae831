"""One process per PostgreSQL store, when ``store.single_owner`` asks for it.

The store then takes a session advisory lock, keyed by the database schema, on a connection
it keeps for its whole life; a second process is refused with the owner's pid and host (the
lock holder's ``application_name``). The lock ends with the owner's connection, so a
crashed owner never blocks a restart. Without it any number of processes share the store.
"""

from __future__ import annotations

import hashlib
import os
import socket
from typing import Any

import asyncpg

from app.errors import StoreInUseError

__all__ = ["PostgresOwnership", "owner_key"]

_APP_NAME = "worldgate owner"


def owner_key(database: str, schema: str) -> int:
    """The advisory lock key (a signed 64-bit integer) of one database schema."""
    digest = hashlib.sha256(f"worldgate-store-owner:{database}:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class PostgresOwnership:
    """Holds (or refuses) the ownership of one PostgreSQL store.

    Args:
        dsn: the connection string.
        schema: the schema the store works in (None: the DSN's ``search_path``).
        timeout: seconds the connection may take.
    """

    def __init__(self, dsn: str, schema: str | None, timeout: float) -> None:
        self._dsn = dsn
        self._schema = schema
        self._timeout = timeout
        self._conn: Any = None

    async def acquire(self) -> None:
        """Take the ownership for this process.

        Raises:
            StoreInUseError: another process owns the store (named in the message).
        """
        if self._conn is not None:
            return
        name = f"{_APP_NAME} pid={os.getpid()} host={socket.gethostname()}"[:63]
        settings = {"application_name": name}
        if self._schema:
            settings["search_path"] = self._schema
        conn = await asyncpg.connect(self._dsn, timeout=self._timeout, server_settings=settings)
        try:
            database, schema = await conn.fetchrow(
                "SELECT current_database(), current_schema()")
            key = owner_key(database, schema or "")
            if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", key):
                holder = await conn.fetchval(
                    "SELECT a.application_name FROM pg_locks l"
                    " JOIN pg_stat_activity a ON a.pid = l.pid"
                    " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1"
                    " AND l.classid = $1::bigint::oid AND l.objid = $2::bigint::oid"
                    " AND l.database = (SELECT oid FROM pg_database"
                    "                   WHERE datname = current_database())",
                    (key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF,
                )
                owner = str(holder or "").removeprefix(_APP_NAME).strip() or "another process"
                raise StoreInUseError(
                    f"the PostgreSQL store (database {database}, schema {schema}) is in use by "
                    f"another Worldgate process ({owner}) and store.single_owner is on: stop "
                    "that process, or turn store.single_owner off in every process that "
                    "shares the store"
                )
        except BaseException:
            await conn.close()
            raise
        self._conn = conn

    async def release(self) -> None:
        """Give the ownership up (closing the connection ends the lock)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()
