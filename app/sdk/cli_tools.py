"""``worldgate`` commands for reports and rollouts: report, backtest, rehearse, rollout."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import msgspec
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from app.sdk.backtest import STRATEGIES, BacktestError, backtest
from app.sdk.checks import Check
from app.sdk.cli_common import cannot, connection_options, console, read_option
from app.sdk.io import read_prices, read_returns
from app.sdk.rehearse import rehearse as run_rehearsal
from app.sdk.report import build_report, report_format, write_report
from app.sdk.rollout import ROLLOUT_VERSIONS, write_rollout
from app.sdk.rollout import rollout as run_rollout

__all__ = ["PROGRESS_MIN_ROWS", "TOOL_COMMANDS"]

PROGRESS_MIN_ROWS = 200_000
"""Backtests over at least this many prices show a progress bar (on stderr)."""


@click.command()
@click.option("--from", "source", required=True, metavar="FILE",
              help='Returns file: JSON {"returns": [...]} or CSV (a returns column).')
@click.option("--out", required=True, metavar="FILE",
              help="Report file; the extension picks the format: .md, .json or .html.")
@click.option("--title", default=None, help="Report title (default: the input file name).")
@click.option("--rf", type=float, default=0.0, show_default=True,
              help="Risk-free return per period (sharpe).")
@click.option("--transaction-cost", type=float, default=0.0, show_default=True,
              help="Cost subtracted from every period's return.")
def report(source: str, out: str, title: str | None, rf: float, transaction_cost: float) -> None:
    """Write a performance report (six alpha_performance metrics, equity and drawdown)."""
    for name, value in (("--rf", rf), ("--transaction-cost", transaction_cost)):
        if not math.isfinite(value):
            raise click.BadParameter("must be a finite number", param_hint=name)
    read_option("--out", report_format, out)
    returns = read_option("--from", read_returns, source)
    rep = build_report(returns, title=title or f"Report of {Path(source).name}", rf=rf,
                       transaction_cost=transaction_cost)
    fmt = read_option("--out", write_report, rep, out)
    click.echo(f"wrote {out} ({fmt}, {rep.periods} periods)")


def _write(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        cannot("write", path, exc, "--out")


@click.command(name="backtest")
@click.option("--prices", required=True, metavar="FILE",
              help="Prices CSV with a close (or price) column, oldest first.")
@click.option("--strategy", type=click.Choice(STRATEGIES), default="buy_hold", show_default=True)
@click.option("--fast", type=click.IntRange(min=1), default=10, show_default=True,
              help="sma_cross: fast window.")
@click.option("--slow", type=click.IntRange(min=2), default=30, show_default=True,
              help="sma_cross: slow window (> fast).")
@click.option("--out", required=True, metavar="DIR",
              help="Output folder: returns.json, metrics.json, report.md, report.html.")
def backtest_cmd(prices: str, strategy: str, fast: int, slow: int, out: str) -> None:
    """Backtest a simple strategy on a price series and report it."""
    series = read_option("--prices", read_prices, prices)
    if strategy == "sma_cross" and slow <= fast:
        raise click.BadParameter(f"must be greater than --fast ({fast})", param_hint="--slow")
    progress = Progress(TextColumn("backtest"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                        TimeRemainingColumn(), console=console(stderr=True), transient=True,
                        disable=len(series) < PROGRESS_MIN_ROWS)
    with progress:
        task = progress.add_task("backtest", total=len(series))
        try:
            returns = backtest(series, strategy, fast=fast, slow=slow,
                               progress=lambda n: progress.advance(task, n))
        except BacktestError as exc:
            raise click.BadParameter(str(exc), param_hint="--prices") from None
    folder = Path(out)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        cannot("create", folder, exc, "--out")
    rep = build_report(returns, title=f"Backtest {strategy} on {Path(prices).name}")
    _write(folder / "returns.json", msgspec.json.encode({"returns": returns}))
    params = {"fast": fast, "slow": slow} if strategy == "sma_cross" else {}
    _write(folder / "metrics.json", msgspec.json.format(msgspec.json.encode({
        "strategy": strategy, "params": params, "periods": rep.periods,
        # The wire form of the report's metrics (undefined → 0.0), as compute_metrics gives.
        "metrics": {k: (0.0 if v is None else v) for k, v in rep.metrics.items()},
        "undefined": [k for k, v in rep.metrics.items() if v is None],
    }), indent=2) + b"\n")
    write_report(rep, folder / "report.md")
    write_report(rep, folder / "report.html")
    click.echo(f"{strategy}: {rep.periods} periods, total return {rep.total_return:.6f}; "
               f"wrote {folder}/returns.json, metrics.json, report.md, report.html")


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
