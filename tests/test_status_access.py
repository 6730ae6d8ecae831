"""``GET /status`` needs the token and never shows a credential."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from litestar.testing import TestClient

from app.settings import redact_url
from app.testing import free_port
from tests.web.keys_support import ROOT_SECRET, auth, make_key, root_settings

TOKEN = "status-token-8c2f"
PASSWORD = "pa55-in-the-url"


def test_status_needs_the_token(make_client: Callable[..., TestClient[Any]]) -> None:
    client = make_client({"security": {"api_tokens": [TOKEN]}})
    refused = client.get("/status")
    assert refused.status_code == 401 and refused.json()["code"] == "E_UNAUTHORIZED"
    assert client.get("/status", headers={"Authorization": "Bearer nope"}).status_code == 401
    ok = client.get("/status", headers={"Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200 and ok.json()["roles"]
    # Probes and capability reads stay open.
    assert client.get("/health").status_code == 200
    assert client.get("/ready").status_code == 200


def test_status_needs_the_read_scope(make_client: Callable[..., TestClient[Any]]) -> None:
    client = make_client(root_settings())
    _, planner = make_key(client, "planner", ["plan"])
    _, reader = make_key(client, "reader", ["read"])
    assert client.get("/status").status_code == 401
    refused = client.get("/status", headers=auth(planner))
    assert refused.status_code == 403 and refused.json()["missing_scope"] == "read"
    for secret in (reader, ROOT_SECRET):
        ok = client.get("/status", headers=auth(secret))
        assert ok.status_code == 200 and ok.json()["roles"]
    assert client.get("/ready").status_code == 200


def test_status_redacts_credentials_in_urls(make_client: Callable[..., TestClient[Any]]) -> None:
    url = f"http://operator:{PASSWORD}@127.0.0.1:{free_port()}/worldservice"
    client = make_client({
        "server": {"roles": ["gateway"]},
        "gateway": {"worldservice_url": url, "worldservice_retries": 0, "probe_timeout": 0.2},
    })
    response = client.get("/status")
    assert response.status_code == 200
    assert PASSWORD not in response.text and "operator" not in response.text
    assert response.json()["worldservice_url"].startswith("http://[redacted]@127.0.0.1:")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://u:p@host:1/x", "http://[redacted]@host:1/x"),
        ("redis://:secret@cache:6379/0", "redis://[redacted]@cache:6379/0"),
        ("postgresql://app@db/x", "postgresql://[redacted]@db/x"),
        ("http://host:1/x@y", "http://host:1/x@y"),
        ("http://host", "http://host"),
        ("not a url", "not a url"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown
