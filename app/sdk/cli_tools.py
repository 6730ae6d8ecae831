"""``worldgate`` commands for reports and rollouts: report, backtest, rehearse, rollout."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click
from rich.table import Table

from app.sdk.checks import Check
from app.sdk.cli_common import cannot, connection_options, console
from app.sdk.rehearse import rehearse as run_rehearsal
from app.sdk.rollout import ROLLOUT_VERSIONS, write_rollout
from app.sdk.rollout import rollout as run_rollout

__all__ = ["TOOL_COMMANDS", "report_commands"]

REPORTS_HINT = "pip install 'worldgate[reports]'"


def _needs_reports(name: str) -> click.Command:
    """A stand-in for a command whose module needs NumPy, on an install without it."""

    @click.command(name=name, context_settings={"ignore_unknown_options": True,
                                                "allow_extra_args": True},
                   help=f"(needs NumPy: {REPORTS_HINT})", add_help_option=False)
    def needs() -> None:
        click.echo(f"worldgate {name} needs NumPy, which the base install leaves out; "
                   f"install it with: {REPORTS_HINT}", err=True)
        raise SystemExit(2)

    return needs


def report_commands() -> tuple[click.Command, click.Command]:
    """``report`` and ``backtest``: the real ones where NumPy is installed, else stand-ins
    that name the extra to install (the other commands work on the base install)."""
    try:
        from app.sdk.cli_report import backtest_cmd, report
    except ModuleNotFoundError as exc:
        if exc.name != "numpy":
            raise
        return _needs_reports("report"), _needs_reports("backtest")
    return report, backtest_cmd


def _checks_table(title: str, rows: list[Check]) -> None:
    table = Table(title=title)
    table.add_column("")
    table.add_column("check")
    table.add_column("evidence", overflow="fold")
    for row in rows:
        table.add_row("✅" if row.ok else "❌", row.name, row.evidence)
    console().print(table)


F = TypeVar("F", bound=Callable[..., Any])


def _target_option(fn: F) -> F:
    return click.option(
        "--target-version", type=click.Choice([str(v) for v in ROLLOUT_VERSIONS]),
        default="2", show_default=True,
        help="The schema version being rolled out (3 adds the rebalancing policy).")(fn)


@click.command()
@connection_options
@click.option("--out", required=True, metavar="DIR",
              help="Artifacts folder: health.json, request.json, plan.json, report.md, "
              "rehearse.log.")
@_target_option
def rehearse(url: str, token: str | None, timeout: float, out: str,
             target_version: str) -> None:
    """Dry-run Gateway health → Runner → /rebalancing/plan at the target schema version."""
    try:
        result = run_rehearsal(url, out, token=token, timeout=timeout,
                               target_version=int(target_version))
    except OSError as exc:
        cannot("write to", out, exc, "--out")
    _checks_table(f"rehearsal against {url}", result.steps)
    if result.ok:
        click.echo(f"rehearsal passed; artifacts in {out}")
    else:
        click.echo(f"rehearsal failed: {result.reason}", err=True)
    raise SystemExit(result.exit_code)


@click.command()
@connection_options
@click.option("--out", default=None, metavar="DIR", help="Also write rollout.json and rollout.md.")
@click.option("--worldservice-url", default=None,
              help="WorldService root when it is not <url>/worldservice.")
@click.option("--event-timeout", type=click.FloatRange(min=0, min_open=True), default=5.0,
              show_default=True, help="Seconds to wait for each WebSocket event.")
@_target_option
def rollout(url: str, token: str | None, timeout: float, out: str | None,
            worldservice_url: str | None, event_timeout: float, target_version: str) -> None:
    """Run the schema rollout checklist live: exit 0 ready, 1 not ready, 2 unreachable."""
    target = int(target_version)
    result = run_rollout(url, token=token, timeout=timeout, event_timeout=event_timeout,
                         worldservice_url=worldservice_url, target_version=target)
    _checks_table(f"schema v{target} rollout — {url}", result.checks)
    if out:
        try:
            paths = write_rollout(result, out)
        except OSError as exc:
            cannot("write to", out, exc, "--out")
        click.echo("wrote " + ", ".join(str(p) for p in paths))
    if result.skipped:
        click.echo("not run (stopped at the first failure): " + "; ".join(result.skipped))
    failed = sum(not c.ok for c in result.checks)
    click.echo(f"ready for schema v{target}" if result.ok
               else f"not ready: {failed} check(s) failed")
    raise SystemExit(result.exit_code)


TOOL_COMMANDS: tuple[click.Command, ...] = (*report_commands(), rehearse, rollout)
