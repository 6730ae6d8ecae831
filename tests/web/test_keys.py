"""API keys: the configured key set, authentication, expiry, creation and revocation (also
of configured keys), refresh across key rings on one store, the admin API, the CLI view."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
import msgspec
import pytest
from litestar.testing import TestClient

from app.container import build_container
from app.contracts.keys import SCOPES, KeyCreateRequest
from app.errors import ConfigError, NotFoundError, ValidationFailedError
from app.settings import Settings
from app.store.adapters.sqlite import SqliteStore
from app.web.auth import ANONYMOUS, Denial, Principal
from app.web.keys import KeyRing, configured_keys, secret_digest
from tests.web.keys_support import ROOT_SECRET, auth, make_key, root_settings

Client = TestClient[Any]


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def eventually(condition: Callable[[], bool], within: float = 5.0) -> None:
    """Wait until ``condition()`` holds (polled every 10 ms; fails after ``within`` s)."""
    with anyio.fail_after(within):
        for _ in range(int(within * 100) + 1):
            if condition():
                return
            await anyio.sleep(0.01)
    raise AssertionError("the condition never held")


def entry(key_id: str, secret: str, scopes: list[str], **extra: Any) -> dict[str, Any]:
    return {"id": key_id, "name": key_id, "scopes": scopes,
            "secret_sha256": hashlib.sha256(secret.encode()).hexdigest(), **extra}


def test_configured_and_legacy_keys(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings({"security": {
        "keys": [entry("ops", "s1", ["admin", "read"], expires_at="2030-01-01T00:00:00Z",
                       rate_per_minute=5)],
        "api_tokens": ["legacy-one"],
    }})
    ops, legacy = configured_keys(settings)
    assert (ops.id, ops.scopes, ops.source, ops.rate_per_minute) == (
        "ops", ["read", "admin"], "config", 5)
    assert ops.expires_at == 1893456000.0
    assert legacy.id == "token:" + secret_digest("legacy-one")[:12]
    assert legacy.scopes == list(SCOPES) and legacy.source == "legacy"
    assert legacy.name == "security.api_tokens[0]"


@pytest.mark.parametrize(
    ("security", "message"),
    [
        ({"keys": [entry("a", "s", ["read", "fly"])]}, r"unknown scope\(s\) fly"),
        ({"keys": [entry("a", "s", ["read"]), entry("a", "t", ["read"])]}, "one id"),
        ({"keys": [entry("a", "s", ["read"])], "api_tokens": ["s"]}, "one secret"),
    ],
)
def test_bad_configured_keys_stop_the_start(
    make_settings: Callable[..., Settings], security: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        configured_keys(make_settings({"security": security}))


def test_malformed_configured_keys_are_config_errors(
    make_settings: Callable[..., Settings],
) -> None:
    for bad in ({"id": "x y", "name": "n", "scopes": ["read"], "secret_sha256": "0" * 64},
                {"id": "x", "name": "n", "scopes": ["read"], "secret_sha256": "not-hex"},
                {"id": "x", "name": "n", "scopes": [], "secret_sha256": "0" * 64}):
        with pytest.raises(ConfigError):
            make_settings({"security": {"keys": [bad]}})


@pytest.fixture
async def store(tmp_path: Path) -> Any:
    instance = SqliteStore(tmp_path / "keys.sqlite3")
    await instance.start()
    yield instance
    await instance.close()


@pytest.mark.anyio
async def test_authentication_outcomes(store: SqliteStore, make_settings: Any) -> None:
    clock = Clock()
    open_ring = KeyRing(store, clock=clock)
    await open_ring.start()
    assert open_ring.authenticate(None) is ANONYMOUS and not open_ring.enforcing
    await open_ring.close()

    settings = make_settings({"security": {"keys": [
        entry("ops", "ops-secret", ["admin"]),
        entry("old", "old-secret", ["read"], expires_at="1970-01-12T13:46:40Z"),  # 1_000_000
    ]}})
    ring = KeyRing(store, configured_keys(settings), clock=clock, default_rate_per_minute=7)
    await ring.start()
    try:
        found = ring.authenticate("Bearer ops-secret")
        assert isinstance(found, Principal) and found.scopes == {"admin"}
        assert found.actor == "ops (ops)" and found.rate_per_minute == 7
        for header, reason in ((None, "missing"), ("Basic x", "malformed"),
                               ("Bearer nope", "unknown_key"),
                               ("Bearer old-secret", "key_expired")):
            denial = ring.authenticate(header)
            assert isinstance(denial, Denial) and denial.status == 401, header
            assert denial.reason == reason and denial.code == "E_UNAUTHORIZED"
        clock.now -= 1  # a second before its expiry the old key still works
        assert isinstance(ring.authenticate("Bearer old-secret"), Principal)
    finally:
        await ring.close()


@pytest.mark.anyio
async def test_create_revoke_and_refresh_across_rings(store: SqliteStore) -> None:
    clock = Clock()
    first = KeyRing(store, clock=clock, refresh_seconds=0.05)
    second = KeyRing(store, clock=clock, refresh_seconds=0.05)
    await first.start()
    await second.start()
    try:
        key, secret = await first.create(
            KeyCreateRequest(name="bot", scopes=["plan", "read", "plan"]), "ops (ops)")
        assert key.id.startswith("key_") and secret.startswith("wgk_")
        assert key.scopes == ["read", "plan"] and key.created_by == "ops (ops)"
        assert key.secret_sha256 == secret_digest(secret) and secret not in repr(key)
        assert isinstance(first.authenticate(f"Bearer {secret}"), Principal)  # at once here
        # Not loaded yet: the second ring sees it at its next reload (every 0.05 s here).
        await eventually(lambda: second.authenticate(f"Bearer {secret}") is not ANONYMOUS)
        assert isinstance(second.authenticate(f"Bearer {secret}"), Principal)
        assert second.enforcing  # the first key makes every ring require keys
        revoked = await first.revoke(key.id, "ops (ops)")
        assert revoked.state(clock()) == "revoked" and revoked.revoked_by == "ops (ops)"
        await eventually(lambda: isinstance(second.authenticate(f"Bearer {secret}"), Denial))
        denial = second.authenticate(f"Bearer {secret}")
        assert isinstance(denial, Denial) and denial.reason == "key_revoked"
        assert not second.is_active(key.id) and second.enforcing  # revoked keys still count
        with pytest.raises(NotFoundError):
            await first.revoke("key_nope", "ops")
    finally:  # task groups close in the reverse order of their start
        await second.close()
        await first.close()


@pytest.mark.anyio
async def test_configured_keys_are_revoked_through_the_store(
    store: SqliteStore, make_settings: Any
) -> None:
    configured = configured_keys(make_settings({"security": {"api_tokens": ["legacy"]}}))
    ring = KeyRing(store, configured)
    other = KeyRing(store, configured)
    await ring.start()
    await other.start()
    try:
        key_id = configured[0].id
        await ring.revoke(key_id, "ops")
        await other.refresh()
        denial = other.authenticate("Bearer legacy")
        assert isinstance(denial, Denial) and denial.reason == "key_revoked"
        (marker,) = await store.list_keys()
        assert marker.secret_sha256 == "" and marker.scopes == []  # never the secret's hash
    finally:
        await other.close()
        await ring.close()


@pytest.mark.anyio
async def test_creation_refuses_a_past_expiry_and_a_blank_name(store: SqliteStore) -> None:
    ring = KeyRing(store, clock=Clock(2_000_000_000.0))
    await ring.start()
    try:
        past = msgspec.convert({"name": "x", "scopes": ["read"],
                                "expires_at": "2020-01-01T00:00:00Z"}, KeyCreateRequest)
        with pytest.raises(ValidationFailedError, match="future"):
            await ring.create(past, "ops")
        with pytest.raises(ValidationFailedError, match="printable"):
            await ring.create(KeyCreateRequest(name="  ", scopes=["read"]), "ops")
        assert await store.list_keys() == []
    finally:
        await ring.close()


def test_admin_api(make_client: Callable[..., Client]) -> None:
    client = make_client(root_settings())
    root = auth(ROOT_SECRET)
    created = client.post("/keys", json={"name": "ci", "scopes": ["read", "apply"],
                                         "expires_at": "2999-01-01T00:00:00Z",
                                         "rate_per_minute": 60}, headers=root)
    assert created.status_code == 201 and created.headers["cache-control"] == "no-store"
    view = created.json()["key"]
    assert view["state"] == "active" and view["expires_at"].startswith("2999-01-01")
    assert "secret_sha256" not in view and view["created_by"] == "root (root key)"
    listed = client.get("/keys", headers=root).json()["keys"]
    assert {k["id"] for k in listed} == {"root", view["id"]}
    assert created.json()["secret"] not in client.get("/keys", headers=root).text
    assert client.get(f"/keys/{view['id']}", headers=root).json() == view
    missing = client.get("/keys/key_nope", headers=root)
    assert missing.status_code == 404 and missing.json()["code"] == "E_KEY_NOT_FOUND"
    revoked = client.post(f"/keys/{view['id']}/revoke", headers=root)  # the body is optional
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    again = client.post(f"/keys/{view['id']}/revoke", json={"reason": "twice"}, headers=root)
    assert again.json()["revoked_at"] == revoked.json()["revoked_at"]
    for bad in ({"name": "x", "scopes": []}, {"name": "x", "scopes": ["fly"]},
                {"scopes": ["read"]}, {"name": "x", "scopes": ["read"], "rate_per_minute": -1},
                {"name": "", "scopes": ["read"]}, {"name": "x", "scopes": ["read"],
                                                  "expires_at": "2001-01-01T00:00:00Z"}):
        answer = client.post("/keys", json=bad, headers=root)
        assert answer.status_code == 422, (bad, answer.text)
    json_type = {**root, "content-type": "application/json"}
    assert client.post("/keys", content=b"{", headers=json_type).status_code == 400


def test_admin_bodies_must_be_json_and_ids_follow_the_rule(
    make_client: Callable[..., Client],
) -> None:
    client = make_client(root_settings())
    root = auth(ROOT_SECRET)
    key_id, _ = make_key(client, "ci", ["read"])
    text = {**root, "content-type": "text/plain"}
    body = b'{"name": "x", "scopes": ["read"]}'
    for path in ("/keys", f"/keys/{key_id}/revoke"):
        refused = client.post(path, content=body, headers=text)
        assert refused.status_code == 415, (path, refused.text)
        assert refused.json()["code"] == "E_UNSUPPORTED_MEDIA_TYPE"
    assert client.get(f"/keys/{key_id}", headers=root).json()["state"] == "active"
    for method, path, where in (
        ("GET", "/keys/" + quote("k\x00"), "$.key_id"),
        ("POST", "/keys/" + "k" * 300 + "/revoke", "$.key_id"),
        ("GET", "/audit?key=" + quote("k\x00"), "$.key"),
        ("GET", "/audit?route=" + quote("/risk\x00"), "$.route"),
    ):
        answer = client.request(method, path, headers=root)
        assert answer.status_code == 422, (path, answer.text)
        assert where in {e["path"] for e in answer.json()["errors"]}, answer.text


def test_a_new_key_works_at_once_and_expires(make_client: Callable[..., Client]) -> None:
    client = make_client(root_settings())
    _, secret = make_key(client, "reader", ["read"])
    assert client.get("/risk/state", headers=auth(secret)).status_code == 200


def test_rate_limit_per_key(make_client: Callable[..., Client]) -> None:
    client = make_client(root_settings())
    _, slow = make_key(client, "slow", ["read"], rate_per_minute=2)
    _, other = make_key(client, "other", ["read"])
    assert client.get("/risk/state", headers=auth(slow)).status_code == 200
    assert client.get("/risk/state", headers=auth(slow)).status_code == 200
    limited = client.get("/risk/state", headers=auth(slow))
    assert limited.status_code == 429 and limited.json()["code"] == "E_RATE_LIMITED"
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.json()["retry_after"] == int(limited.headers["retry-after"])
    assert client.get("/risk/state", headers=auth(other)).status_code == 200  # its own budget
    assert client.get("/health").status_code == 200  # public routes have no budget
    metrics = client.get("/metrics").text
    assert "worldgate_rate_limited_requests_total 1.0" in metrics


def test_default_rate_applies_to_keys_without_their_own(
    make_client: Callable[..., Client],
) -> None:
    client = make_client(root_settings(default_rate_per_minute=1))
    assert client.get("/keys", headers=auth(ROOT_SECRET)).status_code == 200
    assert client.get("/keys", headers=auth(ROOT_SECRET)).status_code == 429


@pytest.mark.parametrize(
    ("gateway", "tokens", "sent"),
    [
        ({"worldservice_api_key": "ws-key-secret"}, ["legacy"], "Bearer ws-key-secret"),
        ({}, ["legacy"], "Bearer legacy"),
        ({}, [], None),
    ],
)
def test_the_gateway_presents_its_worldservice_key(
    make_settings: Callable[..., Settings], gateway: dict[str, Any], tokens: list[str],
    sent: str | None,
) -> None:
    settings = make_settings({
        "server": {"roles": ["gateway"]},
        "gateway": {"worldservice_url": "http://worldservice:8000/worldservice", **gateway},
        "security": {"api_tokens": tokens},
    })
    client = build_container(settings).worldservice_client()
    assert client._client.headers.get("authorization") == sent
