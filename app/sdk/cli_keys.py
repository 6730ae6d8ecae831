"""``worldgate keys ...`` (API keys: create, list, show, revoke, generate) and
``worldgate audit`` (the audit log)."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import click
import msgspec
from rich.table import Table

from app.contracts.keys import SCOPES, KeyView
from app.sdk.cli_common import connection_options, console, fail_sdk
from app.sdk.cli_risk import print_answer
from app.sdk.client import GatewayClient
from app.sdk.errors import SdkError

__all__ = ["KEY_COMMANDS", "audit", "keys"]

T = TypeVar("T")
_DURATION = re.compile(r"^([0-9]+)([mhdw])$")
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_SCOPE_CHOICE = click.Choice(list(SCOPES))
_CONFIG_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


def _call(kw: dict[str, Any], fn: Callable[[GatewayClient], T]) -> T:
    """Run ``fn`` on a client for the connection options; SDK errors exit 1 (or 2)."""
    with GatewayClient(kw["url"], token=kw["token"], timeout=kw["timeout"]) as client:
        try:
            return fn(client)
        except SdkError as exc:
            fail_sdk(exc)


def expiry(text: str | None, now: datetime | None = None) -> str | None:
    """``--expires`` as an ISO 8601 time: a duration from now (``90d``, ``12h``, ``2w``,
    ``30m``) or a time as written (``2025-12-31T00:00:00Z``)."""
    if text is None:
        return None
    found = _DURATION.match(text.strip())
    if found:
        seconds = int(found.group(1)) * _UNIT_SECONDS[found.group(2)]
        return ((now or datetime.now(UTC)) + timedelta(seconds=seconds)).isoformat()
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise click.BadParameter(
            "give a duration (90d, 12h, 2w, 30m) or an ISO 8601 time", param_hint="--expires"
        ) from None
    return moment.isoformat()


def _table(keys: list[KeyView]) -> Table:
    table = Table(title="API keys (--json for every field)")
    table.add_column("id", no_wrap=True)  # ids are what people copy: never broken
    for column in ("name", "scopes", "state", "source", "expires_at", "rate/min"):
        table.add_column(column)
    for k in keys:
        table.add_row(k.id, k.name, ",".join(k.scopes), k.state, k.source,
                      (k.expires_at or "")[:19],
                      "" if k.rate_per_minute is None else str(k.rate_per_minute))
    return table


@click.group()
def keys() -> None:
    """API keys: create, list, show, revoke (scope admin), generate (offline)."""


@keys.command()
@connection_options
@click.option("--name", required=True, help="A label for people (ci-deployer, notebook-ana).")
@click.option("--scope", "scopes", type=_SCOPE_CHOICE, multiple=True, required=True,
              help="A scope the key holds; repeat for several.")
@click.option("--expires", default=None, metavar="WHEN",
              help="90d, 12h, 2w, 30m from now, or an ISO 8601 time.")
@click.option("--rate-per-minute", type=click.IntRange(min=0), default=None,
              help="The key's request budget per minute (0: unlimited).")
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")
def create(name: str, scopes: tuple[str, ...], expires: str | None,
           rate_per_minute: int | None, as_json: bool, **kw: Any) -> None:
    """Create a key and print its secret: the only time it is shown."""
    until = expiry(expires)
    created = _call(kw, lambda c: c.create_key(name, list(scopes), expires_at=until,
                                               rate_per_minute=rate_per_minute))
    if as_json:
        print_answer(created)
        return
    key = created.key
    click.echo(f"created {key.id} ({key.name}) with scopes {', '.join(key.scopes)}"
               + (f", expires {key.expires_at}" if key.expires_at else ""))
    click.echo(f"secret: {created.secret}")
    click.echo("Store the secret now: the server keeps only its hash and cannot show it again.",
               err=True)


@keys.command(name="list")
@connection_options
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")
def list_(as_json: bool, **kw: Any) -> None:
    """List every key (never a secret): configured, legacy and created ones."""
    found = _call(kw, lambda c: c.list_keys())
    if as_json:
        print_answer({"keys": found})
        return
    console().print(_table(found))


@keys.command()
@click.argument("key_id")
@connection_options
def show(key_id: str, **kw: Any) -> None:
    """Print one key (JSON)."""
    print_answer(_call(kw, lambda c: c.get_key(key_id)))


@keys.command()
@click.argument("key_id")
@connection_options
@click.option("--reason", default=None, help="Why (kept in the audit log).")
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")
def revoke(key_id: str, reason: str | None, as_json: bool, **kw: Any) -> None:
    """Revoke a key: every process of the deployment refuses it within seconds."""
    done = _call(kw, lambda c: c.revoke_key(key_id, reason))
    if as_json:
        print_answer(done)
        return
    click.echo(f"{done.id} ({done.name}): {done.state} at {done.revoked_at} by {done.revoked_by}")


def _toml_string(value: str) -> str:
    return msgspec.json.encode(value).decode()  # a JSON string is a valid TOML basic string


@keys.command()
@click.option("--id", "key_id", default=None,
              help="The key id (letters, digits, _ . -); a random one when left out.")
@click.option("--name", required=True, help="A label for people.")
@click.option("--scope", "scopes", type=_SCOPE_CHOICE, multiple=True, required=True,
              help="A scope the key holds; repeat for several.")
@click.option("--expires", default=None, metavar="WHEN",
              help="90d, 12h, 2w, 30m from now, or an ISO 8601 time.")
def generate(key_id: str | None, name: str, scopes: tuple[str, ...],
             expires: str | None) -> None:
    """Make a key for the configuration, offline: prints the secret once and the
    ``[[security.keys]]`` entry (the secret's SHA-256, never the secret) to paste.

    The way to the first admin key of a deployment, and the way back in when every admin
    key is lost.
    """
    chosen = key_id or f"cfg_{secrets.token_hex(4)}"
    if not _CONFIG_ID.match(chosen):
        raise click.BadParameter("letters, digits, _ . - (at most 64)", param_hint="--id")
    secret = "wgk_" + secrets.token_urlsafe(32)
    digest = hashlib.sha256(secret.encode()).hexdigest()
    ordered = [s for s in SCOPES if s in scopes]
    lines = [
        "[[security.keys]]",
        f"id = {_toml_string(chosen)}",
        f"name = {_toml_string(name)}",
        "scopes = [" + ", ".join(_toml_string(s) for s in ordered) + "]",
        f'secret_sha256 = "{digest}"',
    ]
    until = expiry(expires)
    if until is not None:
        lines.append(f"expires_at = {_toml_string(until)}")
    click.echo("\n".join(lines))
    click.echo(f"secret: {secret}", err=True)
    click.echo("Give the secret to the key's user now; it is not written anywhere.", err=True)


@click.command()
@connection_options
@click.option("--since", default=None, help="Only records at or after this ISO 8601 time.")
@click.option("--key", default=None, metavar="KEY_ID", help="Only calls made with this key.")
@click.option("--route", default=None, help="Only this route template (/risk/state).")
@click.option("--outcome", type=click.Choice(["ok", "denied", "failed"]), default=None)
@click.option("--limit", type=click.IntRange(1, 100_000), default=100, show_default=True,
              help="At most this many records (pages are followed).")
@click.option("--json", "as_json", is_flag=True, help="One JSON record per line.")
def audit(since: str | None, key: str | None, route: str | None, outcome: str | None,
          limit: int, as_json: bool, **kw: Any) -> None:
    """Show the audit log, oldest first (scope admin)."""

    def read(client: GatewayClient) -> list[Any]:
        found = []
        for record in client.audit(since=since, key=key, route=route, outcome=outcome,
                                   page_size=min(limit, 1000)):
            found.append(record)
            if len(found) >= limit:
                break
        return found

    records = _call(kw, read)
    if as_json:
        for record in records:
            click.echo(msgspec.json.encode(record).decode())
        return
    table = Table(title="audit log (--json for every field)")
    for column in ("seq", "time (UTC)", "key", "call", "status", "reason / ids"):
        table.add_column(column)
    for r in records:
        ids = [f"{n}={v}" for n, v in (("run", r.run_id), ("exec", r.execution_id),
                                       ("world", r.world_id)) if v]
        why = "; ".join([r.reason or r.code or "", *ids]).strip("; ")
        table.add_row(str(r.seq), r.time[:19].replace("T", " "), r.key_id or "-",
                      f"{r.method} {r.route}", f"{r.status} {r.outcome}", why)
    console().print(table)


KEY_COMMANDS: tuple[click.Command, ...] = (keys, audit)
