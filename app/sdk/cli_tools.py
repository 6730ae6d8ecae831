"""``worldgate`` commands for reports and rollouts: report, backtest, rehearse, rollout."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click
from rich.table import Table

from app.sdk.checks import Check
from app.sdk.cli_common import cannot, connection_options, console
from app.sdk.cli_report import PROGRESS_MIN_ROWS, backtest_cmd, report
from app.sdk.rehearse import rehearse as run_rehearsal
from app.sdk.rollout import ROLLOUT_VERSIONS, write_rollout
from app.sdk.rollout import rollout as run_rollout

__all__ = ["PROGRESS_MIN_ROWS", "TOOL_COMMANDS"]


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
    failed = sum(not c.ok for c in result.checks)
    click.echo(f"ready for schema v{target}" if result.ok
               else f"not ready: {failed} check(s) failed")
    raise SystemExit(result.exit_code)


TOOL_COMMANDS: tuple[click.Command, ...] = (report, backtest_cmd, rehearse, rollout)
