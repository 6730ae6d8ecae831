"""Helpers of the key and audit tests: a root key in the configuration, keys made through
the admin API, request bodies."""

from __future__ import annotations

import hashlib
from typing import Any

from litestar.testing import TestClient

from app.contracts.keys import SCOPES

__all__ = [
    "ROOT_SECRET",
    "auth",
    "execute_body",
    "make_key",
    "plan_body",
    "root_settings",
]

ROOT_SECRET = "root-secret-4b1d9c"


def auth(secret: str) -> dict[str, str]:
    """The ``Authorization`` header of a key's secret."""
    return {"Authorization": f"Bearer {secret}"}


def root_settings(**security: Any) -> dict[str, Any]:
    """Overrides with one configured key, ``root``, that holds every scope."""
    root = {"id": "root", "name": "root key", "scopes": list(SCOPES),
            "secret_sha256": hashlib.sha256(ROOT_SECRET.encode()).hexdigest()}
    return {"security": {"keys": [root], **security}}


def make_key(client: TestClient[Any], name: str, scopes: list[str], **extra: Any
             ) -> tuple[str, str]:
    """Create a key through ``POST /keys`` with the root key; return ``(id, secret)``."""
    answer = client.post("/keys", json={"name": name, "scopes": scopes, **extra},
                         headers=auth(ROOT_SECRET))
    assert answer.status_code == 201, answer.text
    body = answer.json()
    return body["key"]["id"], body["secret"]


def plan_body(marker: str = "SYM") -> dict[str, Any]:
    """A two-world rebalance whose symbols carry ``marker`` (so a test can look for it)."""
    return {
        "total_equity": 100_000.0,
        "world_alloc_before": {"w1": 0.5, "w2": 0.5},
        "world_alloc_after": {"w1": 0.4, "w2": 0.6},
        "positions": [
            {"world_id": "w1", "strategy_id": "s1", "symbol": f"{marker}A", "qty": 100.0,
             "mark": 100.0},
            {"world_id": "w2", "strategy_id": "s2", "symbol": f"{marker}B", "qty": 50.0,
             "mark": 100.0},
        ],
    }


def execute_body(marker: str = "SYM") -> dict[str, Any]:
    """A rebalance that yields orders in both worlds."""
    return plan_body(marker)
