"""``worldgate plans`` and ``worldgate executions``: the stored records, listed and shown."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import click
import msgspec
from rich.table import Table

from app.sdk.cli_common import connection_options, console, fail_sdk
from app.sdk.cli_tables import execute_table, plan_tables
from app.sdk.client import GatewayClient
from app.sdk.errors import SdkError

__all__ = ["RECORD_COMMANDS"]

_OUTPUT = click.option("--output", type=click.Choice(["json", "table"]), default="json",
                       show_default=True, help="Print JSON or rich tables.")
_WS_URL = click.option("--worldservice-url", default=None,
                       help="WorldService root when it is not <url>/worldservice.")


def _list_options(fn: Any) -> Any:
    for option in (
        _OUTPUT,
        click.option("--all", "every", is_flag=True,
                     help="Follow the cursors and print every item (one JSON object)."),
        click.option("--cursor", default=None, help="Continue from a previous page's `next`."),
        click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True,
                     help="Items per page."),
        click.option("--world", "world_id", default=None, help="Only records of this world."),
        connection_options,
    ):
        fn = option(fn)
    return fn


def _when(ts: object) -> str:
    if not isinstance(ts, int | float):
        return ""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def _print_json(value: object) -> None:
    click.echo(msgspec.json.format(msgspec.json.encode(value), indent=2).decode())


def _client(kw: dict[str, Any]) -> GatewayClient:
    return GatewayClient(kw["url"], token=kw["token"], timeout=kw["timeout"],
                         worldservice_url=kw.get("worldservice_url"))


def _page(kw: dict[str, Any], key: str,
          fetch: Callable[[GatewayClient, str | None], dict[str, Any]],
          every: Callable[[GatewayClient], Iterator[dict[str, Any]]]) -> dict[str, Any]:
    with _client(kw) as client:
        try:
            if kw["every"]:
                return {key: list(every(client)), "next": None}
            return fetch(client, kw["cursor"])
        except SdkError as exc:
            fail_sdk(exc)


def _list_table(title: str, rows: list[list[str]], columns: tuple[str, ...],
                next_cursor: object) -> None:
    table = Table(title=title)
    for col in columns:
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*row)
    console().print(table)
    if next_cursor:
        console().print(f"next: {next_cursor}  (more: --cursor {next_cursor})")


def _run_default(ctx: click.Context, command: click.Command) -> None:
    # Parsed like `<group> list` with no arguments: defaults and WORLDGATE_* apply.
    with command.make_context("list", [], parent=ctx) as sub:
        command.invoke(sub)


@click.group(name="plans", invoke_without_command=True)
@click.pass_context
def plans(ctx: click.Context) -> None:
    """Applied plans: ``plans list`` (the default) and ``plans show RUN_ID``."""
    if ctx.invoked_subcommand is None:
        _run_default(ctx, plans_list)


@plans.command(name="list")
@_list_options
@_WS_URL
def plans_list(**kw: Any) -> None:
    """List applied plans, newest first, a page at a time."""
    page = _page(kw, "plans",
                 lambda c, cur: c.list_plans(world_id=kw["world_id"], limit=kw["limit"],
                                             cursor=cur),
                 lambda c: c.iter_plans(world_id=kw["world_id"]))
    if kw["output"] == "json":
        _print_json(page)
        return
    rows = [[str(p.get("run_id")), _when(p.get("created_at")), str(p.get("schema_version")),
             ",".join(p.get("world_ids") or []), str(len(p.get("events") or []))]
            for p in page.get("plans") or []]
    _list_table("applied plans", rows, ("run_id", "created_at", "schema", "worlds", "events"),
                page.get("next"))


@plans.command(name="show")
@click.argument("run_id")
@connection_options
@_WS_URL
@_OUTPUT
def plans_show(run_id: str, output: str, **kw: Any) -> None:
    """Show the plan applied under RUN_ID."""
    with _client(kw) as client:
        try:
            applied = client.get_plan(run_id)
        except SdkError as exc:
            fail_sdk(exc)
    if output == "json":
        _print_json(applied)
        return
    console().print(f"run_id={applied.get('run_id')}  created_at="
                    f"{_when(applied.get('created_at'))}  events="
                    f"{len(applied.get('events') or [])}")
    plan_tables(applied.get("response") or {})


@click.group(name="executions", invoke_without_command=True)
@click.pass_context
def executions(ctx: click.Context) -> None:
    """Submitted executions: ``executions list`` (the default) and ``executions show ID``."""
    if ctx.invoked_subcommand is None:
        _run_default(ctx, executions_list)


@executions.command(name="list")
@_list_options
def executions_list(**kw: Any) -> None:
    """List submitted executions, newest first, a page at a time."""
    page = _page(kw, "executions",
                 lambda c, cur: c.list_executions(world_id=kw["world_id"], limit=kw["limit"],
                                                  cursor=cur),
                 lambda c: c.iter_executions(world_id=kw["world_id"]))
    if kw["output"] == "json":
        _print_json(page)
        return
    rows = []
    for e in page.get("executions") or []:
        answer = e.get("response") or {}
        orders = sum(len(v) for v in (answer.get("orders_per_world") or {}).values())
        orders += len(answer.get("orders_global") or [])
        rows.append([str(e.get("execution_id")), _when(e.get("created_at")),
                     str(answer.get("scope", "")), ",".join(e.get("world_ids") or []),
                     str(orders)])
    _list_table("submitted executions", rows,
                ("execution_id", "created_at", "scope", "worlds", "orders"), page.get("next"))


@executions.command(name="show")
@click.argument("execution_id")
@connection_options
@_OUTPUT
def executions_show(execution_id: str, output: str, **kw: Any) -> None:
    """Show the stored answer of execution EXECUTION_ID."""
    with _client(kw) as client:
        try:
            answer = client.get_execution_raw(execution_id)
        except SdkError as exc:
            fail_sdk(exc)
    if output == "json":
        _print_json(answer)
    else:
        execute_table(answer)


RECORD_COMMANDS: tuple[click.Command, ...] = (plans, executions)
