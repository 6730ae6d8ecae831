"""``worldgate keys ...`` and ``worldgate audit`` against a server in a child process whose
first admin key was made offline by ``worldgate keys generate``; the SDK's key methods."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
from click.testing import CliRunner

from app.cli import cli
from app.sdk import AsyncGatewayClient, ForbiddenScope, GatewayClient, Unauthorized
from app.sdk.cli_keys import expiry
from app.settings import load_settings
from app.web.keys import configured_keys, secret_digest
from tests.sdk.conftest import serve_process


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def secret_of(stderr: str) -> str:
    (line,) = [line for line in stderr.splitlines() if line.startswith("secret: ")]
    return line.removeprefix("secret: ")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A server whose only configured key comes from ``keys generate``: ``(url, secret)``."""
    code, out, err = run("keys", "generate", "--id", "ops", "--name", "ops admin",
                         "--scope", "admin", "--scope", "read")
    assert code == 0, err
    entry = tomllib.loads(out)["security"]["keys"][0]
    secret = secret_of(err)
    assert secret not in out and entry["scopes"] == ["read", "admin"]
    with serve_process({"security": {"keys": [entry]}}, tmp_path_factory.mktemp("keys")) as url:
        yield url, secret


def test_create_list_show_revoke_and_audit(served: tuple[str, str]) -> None:
    url, admin = served
    code, out, err = run("keys", "create", "--url", url, "--token", admin, "--name", "bot",
                         "--scope", "plan", "--scope", "read", "--expires", "90d",
                         "--rate-per-minute", "100")
    assert code == 0, err
    assert out.startswith("created key_") and "scopes read, plan" in out
    bot = secret_of(out)
    key_id = out.split()[1]
    assert "only its hash" in err
    code, out, _ = run("keys", "list", "--url", url, "--token", admin, "--json")
    listed = {k["id"]: k for k in msgspec.json.decode(out)["keys"]}
    assert listed[key_id]["rate_per_minute"] == 100 and listed["ops"]["source"] == "config"
    assert bot not in out
    code, out, _ = run("keys", "list", "--url", url, "--token", admin)
    assert code == 0 and key_id in out and "active" in out
    code, out, _ = run("keys", "show", key_id, "--url", url, "--token", admin)
    assert msgspec.json.decode(out)["name"] == "bot"

    code, _, err = run("keys", "list", "--url", url, "--token", bot)
    assert code == 1 and "E_FORBIDDEN_SCOPE" in err and "`admin`" in err
    code, out, _ = run("keys", "revoke", key_id, "--url", url, "--token", admin,
                       "--reason", "cli drill")
    assert code == 0 and f"{key_id} (bot): revoked" in out and "by ops (ops admin)" in out
    code, _, err = run("risk", "status", "--url", url, "--token", bot)
    assert code == 1 and "E_UNAUTHORIZED" in err and "revoked" in err

    code, out, _ = run("audit", "--url", url, "--token", admin, "--key", key_id, "--json")
    records = [msgspec.json.decode(line) for line in out.splitlines()]
    assert [(r["route"], r["outcome"]) for r in records][-2:] == [
        ("/keys", "denied"), ("/risk/state", "denied")]
    code, out, _ = run("audit", "--url", url, "--token", admin, "--route",
                       "/keys/{key_id}/revoke")
    assert code == 0 and "drill" in out and "200 ok" in out
    code, _, err = run("keys", "show", "key_nope", "--url", url, "--token", admin)
    assert code == 1 and "E_KEY_NOT_FOUND" in err


def test_sdk_key_methods(served: tuple[str, str]) -> None:
    url, admin = served
    with GatewayClient(url, token=admin) as gw:
        created = gw.create_key("sdk-reader", ["read"])
        assert created.secret.startswith("wgk_") and created.key.scopes == ["read"]
        assert created.key.id in {k.id for k in gw.list_keys()}
        with GatewayClient(url, token=created.secret) as reader:
            assert reader.risk_state().global_.state == "ACTIVE"
            with pytest.raises(ForbiddenScope) as info:
                reader.halt("not mine")
            assert info.value.missing_scope == "risk"
        assert gw.revoke_key(created.key.id, "done").state == "revoked"
        with GatewayClient(url, token=created.secret) as reader, pytest.raises(Unauthorized):
            reader.risk_state()
        records = list(gw.audit(key=created.key.id, page_size=1))
        assert [r.route for r in records] == ["/risk/state", "/risk/state"]
        assert records[0].outcome == "denied" and records[0].reason == "missing_scope:risk"


@pytest.mark.anyio
async def test_async_sdk_key_methods(served: tuple[str, str]) -> None:
    url, admin = served
    async with AsyncGatewayClient(url, token=admin) as gw:
        created = await gw.create_key("async-bot", ["plan"], rate_per_minute=5)
        assert (await gw.get_key(created.key.id)).rate_per_minute == 5
        page = await gw.audit_page(route="/keys", limit=1000)
        assert any(r.reason and "async-bot" in r.reason for r in page.entries)
        seen: list[Any] = [r async for r in gw.audit(route="/keys", page_size=2)]
        assert [r.id for r in seen] == [r.id for r in page.entries]
        await gw.revoke_key(created.key.id)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90d", "2025-04-01T00:00:00+00:00"),
        ("12h", "2025-01-01T12:00:00+00:00"),
        ("2w", "2025-01-15T00:00:00+00:00"),
        ("30m", "2025-01-01T00:30:00+00:00"),
        ("2026-06-30T00:00:00Z", "2026-06-30T00:00:00+00:00"),
        (None, None),
    ],
)
def test_expiry(text: str | None, expected: str | None) -> None:
    assert expiry(text, datetime(2025, 1, 1, tzinfo=UTC)) == expected


def test_bad_expiry_and_id_are_usage_errors() -> None:
    code, _, err = run("keys", "generate", "--name", "x", "--scope", "read", "--expires", "soon")
    assert code == 2 and "--expires" in err
    code, _, err = run("keys", "generate", "--id", "bad id", "--name", "x", "--scope", "read")
    assert code == 2 and "--id" in err
    code, _, err = run("keys", "generate", "--name", "x", "--scope", "fly")
    assert code == 2


def test_generate_makes_fresh_secrets_and_a_loadable_entry(tmp_path: Path) -> None:
    _, out1, err1 = run("keys", "generate", "--name", "a", "--scope", "read", "--expires", "1d")
    _, out2, err2 = run("keys", "generate", "--name", "a", "--scope", "read")
    assert secret_of(err1) != secret_of(err2)
    entry = tomllib.loads(out1)["security"]["keys"][0]
    assert entry["id"].startswith("cfg_") and "expires_at" in entry
    config = tmp_path / "keys.toml"
    config.write_text(out1)
    (key,) = configured_keys(load_settings(config, environ={}))
    assert key.secret_sha256 == secret_digest(secret_of(err1))
