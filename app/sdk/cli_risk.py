"""``worldgate risk ...`` (trading states) and ``worldgate submit`` (two-phase execution)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click
import msgspec
from rich.table import Table

from app.contracts.risk import ScopedStateView, TradingStateView
from app.sdk.cli_common import connection_options, console, fail_sdk
from app.sdk.client import GatewayClient
from app.sdk.errors import PreconditionFailed, SdkError

__all__ = ["RISK_COMMANDS", "print_answer", "risk", "submit"]

T = TypeVar("T")


def _call(kw: dict[str, Any], fn: Callable[[GatewayClient], T]) -> T:
    """Run ``fn`` on a client for the connection options; SDK errors exit 1 (or 2)."""
    with GatewayClient(kw["url"], token=kw["token"], timeout=kw["timeout"]) as client:
        try:
            return fn(client)
        except SdkError as exc:
            fail_sdk(exc)


def _json(value: Any) -> None:
    click.echo(msgspec.json.format(msgspec.json.encode(value), indent=2).decode())


def print_answer(answer: Any) -> None:
    """Print an answer (a Struct or decoded JSON) as indented JSON."""
    _json(msgspec.to_builtins(answer))


@click.group()
def risk() -> None:
    """Trading states: status, halt, reduce, resume, history, limits."""


@risk.command()
@connection_options
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")
def status(as_json: bool, **kw: Any) -> None:
    """Show the global trading state and every world's."""
    reply = _call(kw, lambda c: c.risk_state())
    if as_json:
        print_answer(reply)
        return
    table = Table(title="trading states (the stricter of global and world applies)")
    for column in ("scope", "state", "reason", "actor", "updated_at", "etag"):
        table.add_column(column)

    def row(name: str, view: TradingStateView) -> None:
        table.add_row(name, view.state, view.reason or "", view.actor or "",
                      view.updated_at or "", view.etag)

    row("(global)", reply.global_)
    for world, view in reply.worlds.items():
        row(world, view)
    console().print(table)


def _setter(state: str, summary: str) -> click.Command:
    @connection_options
    @click.option("--world", "world_id", default=None, metavar="W",
                  help="One world (default: the global state).")
    @click.option("--reason", required=True, help="Why (recorded in the history).")
    @click.option("--if-match", "etag", default=None, metavar="ETAG",
                  help="Change only if the state is still at this etag (412 otherwise).")
    @click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")
    def command(world_id: str | None, reason: str, etag: str | None, as_json: bool,
                **kw: Any) -> None:
        done: ScopedStateView = _call(
            kw, lambda c: c.set_risk_state(state, reason, world_id=world_id, etag=etag)
        )
        if as_json:
            print_answer(done)
            return
        where = "global" if done.world_id is None else f"world {done.world_id}"
        click.echo(f"{where}: {done.state} (etag {done.etag}, actor {done.actor})")

    command.__doc__ = summary
    return click.command(name={"HALTED": "halt", "REDUCING": "reduce"}.get(state, "resume"))(
        command
    )


for _state, _summary in (
    ("HALTED", "Halt trading (global, or one --world): nothing passes."),
    ("REDUCING", "Reduce only: only orders that shrink |position| pass."),
    ("ACTIVE", "Resume trading (ACTIVE)."),
):
    risk.add_command(_setter(_state, _summary))


@risk.command()
@connection_options
@click.option("--world", "world_id", default=None, metavar="W", help="Only this world.")
@click.option("--global", "only_global", is_flag=True, help="Only the global state.")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")
def history(world_id: str | None, only_global: bool, limit: int, as_json: bool,
            **kw: Any) -> None:
    """Show trading-state changes, newest first."""
    if world_id and only_global:
        raise click.UsageError("give --world or --global, not both")
    scope = "global" if only_global else None
    reply = _call(kw, lambda c: c.risk_history(scope=scope, world_id=world_id, limit=limit))
    if as_json:
        print_answer(reply)
        return
    table = Table(title="trading-state history")
    for column in ("seq", "changed_at", "scope", "from", "to", "reason", "actor"):
        table.add_column(column)
    for c in reply.changes:
        table.add_row(str(c.seq), c.changed_at, c.world_id or "(global)", c.previous_state,
                      c.state, c.reason, c.actor)
    console().print(table)


@risk.command()
@connection_options
def limits(**kw: Any) -> None:
    """Print the pre-trade limits in force (JSON)."""
    print_answer(_call(kw, lambda c: c.risk_limits()))


@click.command()
@click.argument("execution_id")
@connection_options
@click.option("--etag", default=None,
              help="The preview's etag (default: read it from the stored preview).")
@click.option("--allow-live", is_flag=True, help="Send X-Allow-Live: true (live guard).")
def submit(execution_id: str, etag: str | None, allow_live: bool, **kw: Any) -> None:
    """Submit a preview: exactly its orders, re-checked against the current risk state.

    Exit 0 submitted (or submitted before), 1 refused (a fresh preview is printed when the
    orders would differ now), 2 unreachable.
    """

    def run(client: GatewayClient) -> Any:
        tag = etag
        if tag is None:
            stored = client.get_execution(execution_id)
            if stored.state == "submitted":
                return stored  # submitted before: its answer again
            tag = stored.etag or ""
        try:
            return client.submit_execution(execution_id, tag, allow_live=allow_live)
        except PreconditionFailed as exc:
            fresh = exc.preview
            if fresh is not None and fresh.get("execution_id") != execution_id:
                print_answer(fresh)
                click.echo(
                    f"error: {exc}\nfresh preview {fresh.get('execution_id')} "
                    f"(status {fresh.get('status')}): review it, then "
                    f"`worldgate submit {fresh.get('execution_id')}`",
                    err=True,
                )
                raise SystemExit(1) from None
            raise

    print_answer(_call(kw, run))


RISK_COMMANDS: tuple[click.Command, ...] = (risk, submit)
