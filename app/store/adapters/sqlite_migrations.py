"""Numbered schema migrations of the SQLite store, gated on ``PRAGMA user_version``."""

from __future__ import annotations

import sqlite3
from typing import Final

from app.store.adapters.rows import check_schema_version

__all__ = ["MIGRATIONS", "migrate"]

# MIGRATIONS[n - 1] brings a database from user_version n - 1 to n. Never edit a released
# entry: append a new one.
MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (
        """CREATE TABLE plans (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id TEXT NOT NULL UNIQUE,
            request_hash TEXT NOT NULL,
            schema_version INTEGER NOT NULL,
            world_ids TEXT NOT NULL,
            response BLOB NOT NULL,
            event_ids TEXT NOT NULL,
            created_at REAL NOT NULL
        )""",
        """CREATE TABLE plan_worlds (
            world_id TEXT NOT NULL,
            plan_id INTEGER NOT NULL REFERENCES plans(id),
            PRIMARY KEY (world_id, plan_id)
        ) WITHOUT ROWID""",
        """CREATE TABLE allocation_runs (
            run_id TEXT PRIMARY KEY,
            request_hash TEXT NOT NULL,
            etag TEXT NOT NULL,
            world_ids TEXT NOT NULL,
            response BLOB NOT NULL,
            created_at REAL NOT NULL
        )""",
        """CREATE TABLE allocations (
            world_id TEXT PRIMARY KEY,
            allocation REAL NOT NULL,
            run_id TEXT NOT NULL,
            etag TEXT NOT NULL,
            strategy_alloc_total TEXT,
            updated_at REAL NOT NULL
        )""",
        """CREATE TABLE executions (
            execution_id TEXT PRIMARY KEY,
            request_hash TEXT NOT NULL,
            response BLOB NOT NULL,
            batch_ids TEXT NOT NULL,
            world_ids TEXT NOT NULL,
            created_at REAL NOT NULL
        )""",
        """CREATE TABLE events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            event_id TEXT NOT NULL UNIQUE,
            topic TEXT NOT NULL,
            body BLOB NOT NULL,
            created_at REAL NOT NULL,
            published_at REAL,
            lease_owner TEXT,
            lease_until REAL
        )""",
        "CREATE INDEX events_unpublished ON events(seq) WHERE published_at IS NULL",
        "CREATE INDEX events_topic ON events(topic, seq)",
    ),
    # 2: trading states, their history, order-rate buckets, execution previews (issue 17).
    (
        """CREATE TABLE risk_states (
            scope TEXT NOT NULL,
            world_id TEXT NOT NULL,
            state TEXT NOT NULL,
            reason TEXT,
            actor TEXT,
            updated_at REAL NOT NULL,
            version INTEGER NOT NULL,
            etag TEXT NOT NULL,
            PRIMARY KEY (scope, world_id)
        ) WITHOUT ROWID""",
        """CREATE TABLE risk_state_history (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            scope TEXT NOT NULL,
            world_id TEXT NOT NULL,
            state TEXT NOT NULL,
            previous_state TEXT NOT NULL,
            reason TEXT NOT NULL,
            actor TEXT NOT NULL,
            changed_at REAL NOT NULL,
            etag TEXT NOT NULL,
            event_id TEXT NOT NULL
        )""",
        "CREATE INDEX risk_state_history_scope ON risk_state_history(scope, world_id, seq)",
        """CREATE TABLE risk_rate_buckets (
            world_id TEXT PRIMARY KEY,
            tokens REAL NOT NULL,
            updated_at REAL NOT NULL
        ) WITHOUT ROWID""",
        """CREATE TABLE execution_previews (
            execution_id TEXT PRIMARY KEY,
            request_hash TEXT NOT NULL,
            etag TEXT NOT NULL,
            response BLOB NOT NULL,
            basis BLOB NOT NULL,
            created_at REAL NOT NULL,
            expires_at REAL NOT NULL
        )""",
        "CREATE INDEX execution_previews_expiry ON execution_previews(expires_at)",
    ),
    # 3: one row the readiness probe rewrites: a store that cannot write is not ready
    # (issue 15).
    (
        "CREATE TABLE write_probe (id INTEGER PRIMARY KEY, checked_at REAL NOT NULL)",
    ),
    # 4: a stable insertion position per execution and a world index, so executions page
    # newest first by position (a cursor) in O(page) with or without a world filter.
    (
        "ALTER TABLE executions ADD COLUMN seq INTEGER",
        "UPDATE executions SET seq = rowid",
        "CREATE UNIQUE INDEX executions_seq ON executions(seq)",
        """CREATE TABLE execution_worlds (
            world_id TEXT NOT NULL,
            execution_seq INTEGER NOT NULL,
            PRIMARY KEY (world_id, execution_seq)
        ) WITHOUT ROWID""",
        """INSERT INTO execution_worlds (world_id, execution_seq)
            SELECT DISTINCT j.value, e.seq FROM executions e, json_each(e.world_ids) j""",
    ),
    # 5: API keys (only the SHA-256 of each secret) and the audit log (issue 22).
    (
        """CREATE TABLE api_keys (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            scopes TEXT NOT NULL,
            secret_sha256 TEXT NOT NULL,
            source TEXT NOT NULL,
            created_at REAL,
            created_by TEXT,
            expires_at REAL,
            revoked_at REAL,
            revoked_by TEXT,
            rate_per_minute INTEGER
        )""",
        "CREATE UNIQUE INDEX api_keys_secret ON api_keys(secret_sha256) WHERE secret_sha256 != ''",
        """CREATE TABLE audit_log (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            audit_id TEXT NOT NULL UNIQUE,
            at REAL NOT NULL,
            key_id TEXT,
            key_name TEXT,
            method TEXT NOT NULL,
            route TEXT NOT NULL,
            path TEXT NOT NULL,
            status INTEGER NOT NULL,
            outcome TEXT NOT NULL,
            code TEXT,
            reason TEXT,
            run_id TEXT,
            execution_id TEXT,
            world_id TEXT,
            request_id TEXT,
            client TEXT
        )""",
        "CREATE INDEX audit_log_key ON audit_log(key_id, seq)",
        "CREATE INDEX audit_log_route ON audit_log(route, seq)",
        "CREATE INDEX audit_log_at ON audit_log(at)",
    ),
)


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the database behind ``conn`` (autocommit mode) to the latest version.

    Each migration and its ``user_version`` bump commit together, so a crash leaves the
    database at a whole version.

    Returns:
        The version the database is at afterwards.

    Raises:
        ConfigError: the database was written by a newer Worldgate.
    """
    latest = len(MIGRATIONS)
    conn.execute("BEGIN IMMEDIATE")  # one process migrates at a time
    try:
        current = int(conn.execute("PRAGMA user_version").fetchone()[0])
        check_schema_version(current, latest)
        for version in range(current + 1, latest + 1):
            for statement in MIGRATIONS[version - 1]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version:d}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return latest
