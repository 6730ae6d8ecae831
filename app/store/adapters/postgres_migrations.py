"""Numbered schema migrations of the PostgreSQL store, recorded in ``schema_version``."""

from __future__ import annotations

from typing import Any, Final

from app.store.adapters.rows import check_schema_version

__all__ = ["MIGRATIONS", "MIGRATION_LOCK", "migrate"]

# Advisory lock key held while migrating, so processes starting together migrate one at a
# time (any constant unique to Worldgate; "WGMIGRAT" in ASCII).
MIGRATION_LOCK: Final = 0x57474D4947524154

# MIGRATIONS[n - 1] brings a schema from version n - 1 to n. Never edit a released entry:
# append a new one.
MIGRATIONS: Final[tuple[tuple[str, ...], ...]] = (
    (
        """CREATE TABLE plans (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            run_id TEXT NOT NULL UNIQUE,
            request_hash TEXT NOT NULL,
            schema_version INTEGER NOT NULL,
            world_ids TEXT NOT NULL,
            response BYTEA NOT NULL,
            event_ids TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL
        )""",
        """CREATE TABLE plan_worlds (
            world_id TEXT NOT NULL,
            plan_id BIGINT NOT NULL REFERENCES plans(id),
            PRIMARY KEY (world_id, plan_id)
        )""",
        """CREATE TABLE allocation_runs (
            run_id TEXT PRIMARY KEY,
            request_hash TEXT NOT NULL,
            etag TEXT NOT NULL,
            world_ids TEXT NOT NULL,
            response BYTEA NOT NULL,
            created_at DOUBLE PRECISION NOT NULL
        )""",
        """CREATE TABLE allocations (
            world_id TEXT PRIMARY KEY,
            allocation DOUBLE PRECISION NOT NULL,
            run_id TEXT NOT NULL,
            etag TEXT NOT NULL,
            strategy_alloc_total TEXT,
            updated_at DOUBLE PRECISION NOT NULL
        )""",
        # One row per world (and per allocation run id) ever upserted: the rows that
        # concurrent upserts lock with SELECT ... FOR UPDATE. Never deleted.
        "CREATE TABLE allocation_locks (key TEXT PRIMARY KEY)",
        """CREATE TABLE executions (
            execution_id TEXT PRIMARY KEY,
            request_hash TEXT NOT NULL,
            response BYTEA NOT NULL,
            batch_ids TEXT NOT NULL,
            world_ids TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL
        )""",
        """CREATE TABLE events (
            seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            event_id TEXT NOT NULL UNIQUE,
            topic TEXT NOT NULL,
            body BYTEA NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            published_at DOUBLE PRECISION,
            lease_owner TEXT,
            lease_until DOUBLE PRECISION
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
            updated_at DOUBLE PRECISION NOT NULL,
            version INTEGER NOT NULL,
            etag TEXT NOT NULL,
            PRIMARY KEY (scope, world_id)
        )""",
        """CREATE TABLE risk_state_history (
            seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            scope TEXT NOT NULL,
            world_id TEXT NOT NULL,
            state TEXT NOT NULL,
            previous_state TEXT NOT NULL,
            reason TEXT NOT NULL,
            actor TEXT NOT NULL,
            changed_at DOUBLE PRECISION NOT NULL,
            etag TEXT NOT NULL,
            event_id TEXT NOT NULL
        )""",
        "CREATE INDEX risk_state_history_scope ON risk_state_history(scope, world_id, seq)",
        """CREATE TABLE risk_rate_buckets (
            world_id TEXT PRIMARY KEY,
            tokens DOUBLE PRECISION NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL
        )""",
        """CREATE TABLE execution_previews (
            execution_id TEXT PRIMARY KEY,
            request_hash TEXT NOT NULL,
            etag TEXT NOT NULL,
            response BYTEA NOT NULL,
            basis BYTEA NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            expires_at DOUBLE PRECISION NOT NULL
        )""",
        "CREATE INDEX execution_previews_expiry ON execution_previews(expires_at)",
    ),
    # 3: one row the readiness probe rewrites: a store that cannot write is not ready
    # (issue 15).
    (
        "CREATE TABLE write_probe (id INTEGER PRIMARY KEY, checked_at DOUBLE PRECISION NOT NULL)",
    ),
    # 4: a stable insertion position per execution and a world index, so executions page
    # newest first by position (a cursor) in O(page) with or without a world filter.
    (
        "ALTER TABLE executions ADD COLUMN seq BIGINT GENERATED ALWAYS AS IDENTITY",
        "CREATE UNIQUE INDEX executions_seq ON executions(seq)",
        """CREATE TABLE execution_worlds (
            world_id TEXT NOT NULL,
            execution_seq BIGINT NOT NULL,
            PRIMARY KEY (world_id, execution_seq)
        )""",
        """INSERT INTO execution_worlds (world_id, execution_seq)
            SELECT DISTINCT w, e.seq FROM executions e,
                jsonb_array_elements_text(e.world_ids::jsonb) AS w""",
    ),
    # 5: API keys (only the SHA-256 of each secret) and the audit log (issue 22).
    (
        """CREATE TABLE api_keys (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            scopes TEXT NOT NULL,
            secret_sha256 TEXT NOT NULL,
            source TEXT NOT NULL,
            created_at DOUBLE PRECISION,
            created_by TEXT,
            expires_at DOUBLE PRECISION,
            revoked_at DOUBLE PRECISION,
            revoked_by TEXT,
            rate_per_minute INTEGER
        )""",
        "CREATE UNIQUE INDEX api_keys_secret ON api_keys(secret_sha256) WHERE secret_sha256 <> ''",
        """CREATE TABLE audit_log (
            seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            audit_id TEXT NOT NULL UNIQUE,
            at DOUBLE PRECISION NOT NULL,
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


async def migrate(conn: Any) -> int:
    """Bring the schema behind ``conn`` (an asyncpg connection) to the latest version.

    All pending migrations and their ``schema_version`` rows commit in one transaction, so
    a crash leaves the schema at a whole version; an advisory lock makes processes that
    start together migrate one after the other.

    Returns:
        The version the schema is at afterwards.

    Raises:
        ConfigError: the schema was written by a newer Worldgate.
    """
    latest = len(MIGRATIONS)
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            " version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        current = int(await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version"))
        check_schema_version(current, latest)
        for version in range(current + 1, latest + 1):
            for statement in MIGRATIONS[version - 1]:
                await conn.execute(statement)
            await conn.execute("INSERT INTO schema_version (version) VALUES ($1)", version)
    return latest
