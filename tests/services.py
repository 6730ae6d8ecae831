"""Access to the Redis and PostgreSQL servers some tests need, named by environment variables.

``WORLDGATE_TEST_REDIS_URL`` / ``WORLDGATE_TEST_POSTGRES_DSN`` name the servers. Unset (or
unreachable), the tests that need them skip, saying how to enable them; with
``WORLDGATE_TEST_REQUIRE_SERVICES=1`` (set by ``.ci/run``) they fail instead.
"""

from __future__ import annotations

import functools
import os
import socket
import uuid
from urllib.parse import urlsplit

import pytest

__all__ = ["postgres_dsn", "redis_url", "unique_name"]

REDIS_ENV = "WORLDGATE_TEST_REDIS_URL"
POSTGRES_ENV = "WORLDGATE_TEST_POSTGRES_DSN"
REQUIRE_ENV = "WORLDGATE_TEST_REQUIRE_SERVICES"


def _required() -> bool:
    return os.environ.get(REQUIRE_ENV, "") not in ("", "0", "false")


@functools.cache
def _reachable(url: str, default_port: int) -> str | None:
    """Return None when a TCP connection to the URL's host:port succeeds, else the error."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or default_port
    try:
        with socket.create_connection((host, port), timeout=2.0):
            return None
    except OSError as exc:
        return f"{host}:{port}: {exc}"


def _service(env: str, what: str, default_port: int) -> str:
    value = os.environ.get(env, "").strip()
    if not value:
        message = (
            f"needs {what}: export {env}=... to enable "
            f"(`.ci/run` sets it and makes these tests mandatory)"
        )
    else:
        error = _reachable(value, default_port)
        if error is None:
            return value
        message = f"{what} at {env}={value} is unreachable ({error})"
    if _required():
        pytest.fail(f"{message}; {REQUIRE_ENV}=1 makes this a failure", pytrace=False)
    pytest.skip(message)


def redis_url() -> str:
    """Return the test Redis URL, or skip (fail under ``.ci/run``) when there is none."""
    return _service(REDIS_ENV, "a Redis server", 6379)


def postgres_dsn() -> str:
    """Return the test PostgreSQL DSN, or skip (fail under ``.ci/run``) when there is none."""
    return _service(POSTGRES_ENV, "a PostgreSQL server", 5432)


def unique_name(prefix: str) -> str:
    """A name no other test (or xdist worker) uses: stream prefixes, schemas."""
    return f"{prefix}_{uuid.uuid4().hex[:12]}"
