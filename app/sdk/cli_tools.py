"""``worldgate`` commands for reports and rollouts: report, backtest, rehearse, rollout."""

from __future__ import annotations

import click
from rich.table import Table

from app.sdk.checks import Check
from app.sdk.cli_common import cannot, connection_options, console
from app.sdk.cli_report import PROGRESS_MIN_ROWS, backtest_cmd, report
from app.sdk.rehearse import rehearse as run_rehearsal
from app.sdk.rollout import rollout as run_rollout
from app.sdk.rollout import write_rollout

__all__ = ["PROGRESS_MIN_ROWS", "TOOL_COMMANDS"]


def _checks_table(title: str, rows: list[Check]) -> None:
    table = Table(title=title)
    table.add_column("")
    table.add_column("check")
    table.add_column("evidence", overflow="fold")
    for row in rows:
        table.add_row("✅" if row.ok else "❌", row.name, row.evidence)
    console().print(table)


@click.command()
@connection_options
@click.option("--out", required=True, metavar="DIR",
              help="Artifacts folder: health.json, request.json, plan.json, report.md, "
              "rehearse.log.")
def rehearse(url: str, token: str | None, timeout: float, out: str) -> None:
    """Dry-run Gateway health → Runner → /rebalancing/plan with schema_version=2."""
    try:
        result = run_rehearsal(url, out, token=token, timeout=timeout)
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
def rollout(url: str, token: str | None, timeout: float, out: str | None,
            worldservice_url: str | None, event_timeout: float) -> None:
    """Run the schema v2 rollout checklist live: exit 0 ready, 1 not ready, 2 unreachable."""
    result = run_rollout(url, token=token, timeout=timeout, event_timeout=event_timeout,
                         worldservice_url=worldservice_url)
    _checks_table(f"schema v2 rollout — {url}", result.checks)
    if out:
        try:
            paths = write_rollout(result, out)
        except OSError as exc:
            cannot("write to", out, exc, "--out")
        click.echo("wrote " + ", ".join(str(p) for p in paths))
    failed = sum(not c.ok for c in result.checks)
    click.echo("ready for schema v2" if result.ok else f"not ready: {failed} check(s) failed")
    raise SystemExit(result.exit_code)


TOOL_COMMANDS: tuple[click.Command, ...] = (report, backtest_cmd, rehearse, rollout)
