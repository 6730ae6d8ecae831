"""``worldgate report`` and ``worldgate backtest``: tear sheets from files, plans or prices."""

from __future__ import annotations

import math
from pathlib import Path

import click
import msgspec
import numpy as np
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from app.sdk.backtest import STRATEGIES, BacktestError, backtest, buy_hold
from app.sdk.cli_common import (
    bad_input,
    cannot,
    connection_options,
    console,
    fail_sdk,
    read_option,
)
from app.sdk.client import GatewayClient
from app.sdk.errors import SdkError
from app.sdk.io import InputError, read_price_rows
from app.sdk.plans_report import build_plans_report, render_plans
from app.sdk.report import FORMATS, build_report, render, report_format, write_text
from app.sdk.report_data import iso_date
from app.sdk.series import RETURNS_UNITS, ReturnSeries, load_returns, parse_dates

__all__ = ["PROGRESS_MIN_ROWS", "backtest_cmd", "report"]

PROGRESS_MIN_ROWS = 200_000
"""Backtests over at least this many prices show a progress bar (on stderr)."""


def _format(out: str | None, fmt: str | None) -> str:
    """The output format: from ``--out``'s extension (``--format`` must agree), else md."""
    if out is None:
        return fmt or "md"
    named = read_option("--out", report_format, out)
    if fmt is not None and fmt != named:
        raise click.BadParameter(f"--format {fmt} does not match the extension of {out}",
                                 param_hint="--format")
    return named


def _finite(name: str, value: float) -> None:
    if not math.isfinite(value):
        raise click.BadParameter("must be a finite number", param_hint=name)


def _plans_text(fmt: str, title: str | None, url: str, token: str | None, timeout: float,
                worldservice_url: str | None, world_id: str | None, limit: int) -> str:
    with GatewayClient(url, token=token, timeout=timeout,
                       worldservice_url=worldservice_url) as client:
        try:
            records = client.applied_plans(world_id=world_id, limit=limit)
        except SdkError as exc:
            fail_sdk(exc)
        root = client.worldservice_url
    params = {"worldservice": root, "worlds": world_id or "all", "plans read": f"≤ {limit}"}
    rep = build_plans_report(records, title=title or "Deployment report", params=params)
    return render_plans(rep, fmt)


@click.command()
@click.option("--from", "source", default=None, metavar="FILE",
              help='Returns file: JSON {"returns": [...], "dates"?: [...]} or CSV (a returns '
              "column, optionally a date column).")
@click.option("--plans", is_flag=True,
              help="Report on the applied plans of a running deployment instead of a file.")
@click.option("--out", default=None, metavar="FILE",
              help="Report file; the extension picks the format (.md, .json, .html). "
              "Default: standard output.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
              help="Format when writing to standard output (default md).")
@click.option("--title", default=None, help="Report title.")
@click.option("--benchmark", default=None, metavar="FILE",
              help="Benchmark returns file (same formats as --from).")
@click.option("--returns-unit", type=click.Choice(RETURNS_UNITS), default="auto",
              show_default=True, help="Unit of the returns: auto refuses percent-looking input.")
@click.option("--periods-per-year", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Periods per year for annualising (default: from the dates, else 252).")
@click.option("--rf", type=float, default=0.0, show_default=True,
              help="Risk-free return per period.")
@click.option("--transaction-cost", type=float, default=0.0, show_default=True,
              help="Cost subtracted from every period's return.")
@connection_options
@click.option("--worldservice-url", default=None,
              help="--plans: WorldService root when it is not <url>/worldservice.")
@click.option("--world-id", default=None, help="--plans: only plans that include this world.")
@click.option("--limit", type=click.IntRange(1, 1000), default=500, show_default=True,
              help="--plans: newest plans read.")
def report(source: str | None, plans: bool, out: str | None, fmt: str | None,
           title: str | None, benchmark: str | None, returns_unit: str,
           periods_per_year: float | None, rf: float, transaction_cost: float, url: str,
           token: str | None, timeout: float, worldservice_url: str | None,
           world_id: str | None, limit: int) -> None:
    """Write a tear sheet of a returns file, or a deployment report of applied plans."""
    if (source is None) == (not plans):
        raise click.UsageError("give either --from FILE or --plans")
    fmt = _format(out, fmt)
    if plans:
        text = _plans_text(fmt, title, url, token, timeout, worldservice_url, world_id, limit)
        read_option("--out", write_text, text, out)
        if out is not None:
            click.echo(f"wrote {out} ({fmt}, deployment report)")
        return
    assert source is not None  # checked above; narrows the type
    _finite("--rf", rf)
    _finite("--transaction-cost", transaction_cost)
    series = read_option("--from", load_returns, source, returns_unit)
    bench = None if benchmark is None else read_option("--benchmark", load_returns, benchmark,
                                                       returns_unit)
    params = {"source": Path(source).name, "returns unit": returns_unit,
              "risk-free / period": f"{rf:g}", "cost / period": f"{transaction_cost:g}"}
    if benchmark is not None:
        params["benchmark"] = Path(benchmark).name
    try:
        rep = build_report(series, title=title or f"Report of {Path(source).name}", rf=rf,
                           transaction_cost=transaction_cost, benchmark=bench,
                           benchmark_name=None if benchmark is None else Path(benchmark).stem,
                           periods_per_year=periods_per_year, params=params)
    except InputError as exc:  # the benchmark cannot be aligned with the returns
        bad_input(exc, "--benchmark")
    read_option("--out", write_text, render(rep, fmt), out)
    if out is not None:
        click.echo(f"wrote {out} ({fmt}, {rep.periods} periods)")


def _write(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        cannot("write", path, exc, "--out")


def _date_strings(dates: np.ndarray) -> list[str]:
    daily = bool((dates == dates.astype("datetime64[D]")).all())
    return [str(s) for s in np.datetime_as_string(dates, unit="D" if daily else "s")]


@click.command(name="backtest")
@click.option("--prices", required=True, metavar="FILE",
              help="Prices CSV with a close (or price) column, oldest first; a date column is "
              "used when present.")
@click.option("--strategy", type=click.Choice(STRATEGIES), default="buy_hold", show_default=True)
@click.option("--fast", type=click.IntRange(min=1), default=10, show_default=True,
              help="sma_cross: fast window.")
@click.option("--slow", type=click.IntRange(min=2), default=30, show_default=True,
              help="sma_cross: slow window (> fast).")
@click.option("--cost-bps", type=click.FloatRange(0, 10_000, max_open=True), default=0.0,
              show_default=True, help="Cost of each position change, in basis points.")
@click.option("--periods-per-year", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Periods per year for annualising (default: from the dates, else 252).")
@click.option("--out", required=True, metavar="DIR",
              help="Output folder: returns.json, metrics.json, report.md, report.html.")
def backtest_cmd(prices: str, strategy: str, fast: int, slow: int, cost_bps: float,
                 periods_per_year: float | None, out: str) -> None:
    """Backtest a simple strategy on a price series and write its tear sheet."""
    series, cells = read_option("--prices", read_price_rows, prices)
    if strategy == "sma_cross" and slow <= fast:
        raise click.BadParameter(f"must be greater than --fast ({fast})", param_hint="--slow")
    dates = None if cells is None else read_option("--prices", parse_dates, cells, prices)
    progress = Progress(TextColumn("backtest"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                        TimeRemainingColumn(), console=console(stderr=True), transient=True,
                        disable=len(series) < PROGRESS_MIN_ROWS)
    with progress:
        task = progress.add_task("backtest", total=len(series))
        try:
            returns = backtest(series, strategy, fast=fast, slow=slow, cost_bps=cost_bps,
                               progress=lambda n: progress.advance(task, n))
        except BacktestError as exc:
            raise click.BadParameter(str(exc), param_hint="--prices") from None
    folder = Path(out)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        cannot("create", folder, exc, "--out")
    values = np.asarray(returns, dtype=float)
    strategy_series = ReturnSeries(values, None if dates is None else dates[1:],
                                   None if dates is None else dates[0])
    windows = {"fast": fast, "slow": slow} if strategy == "sma_cross" else {}
    params = {"strategy": strategy, **{k: str(v) for k, v in windows.items()},
              "cost": f"{cost_bps:g} bps per position change", "prices": Path(prices).name}
    if dates is not None:
        params["data range"] = (f"{iso_date(dates[0])} → {iso_date(dates[-1])} "
                                f"({len(series)} prices)")
    bench = None
    if strategy != "buy_hold":
        params["benchmark"] = "buy & hold of the same prices"
        bench = ReturnSeries(np.asarray(buy_hold(series), dtype=float), strategy_series.dates)
    rep = build_report(strategy_series, title=f"Backtest {strategy} on {Path(prices).name}",
                       benchmark=bench, benchmark_name="buy & hold",
                       periods_per_year=periods_per_year, params=params)
    body: dict[str, object] = {"returns": returns}
    if dates is not None:
        body["dates"] = _date_strings(dates[1:])
    _write(folder / "returns.json", msgspec.json.encode(body))
    _write(folder / "metrics.json", msgspec.json.format(msgspec.json.encode({
        "strategy": strategy, "params": {**windows, "cost_bps": cost_bps},
        "periods": rep.periods,
        # The wire form of the report's metrics (undefined → 0.0), as compute_metrics gives.
        "metrics": {k: (0.0 if v is None else v) for k, v in rep.metrics.items()},
        "undefined": [k for k, v in rep.metrics.items() if v is None],
        "periods_per_year": rep.periods_per_year,
        "performance": msgspec.to_builtins(rep.performance),
        "benchmark": None if rep.benchmark is None else msgspec.to_builtins(rep.benchmark),
    }), indent=2) + b"\n")
    for name, fmt in (("report.md", "md"), ("report.html", "html")):
        read_option("--out", write_text, render(rep, fmt), folder / name)
    click.echo(f"{strategy}: {rep.periods} periods, total return {rep.total_return:.6f}; "
               f"wrote {folder}/returns.json, metrics.json, report.md, report.html")
