"""SDK benchmark: ``worldgate backtest`` on 1M price rows and ``worldgate report`` on 1M
returns, end to end through the CLI (read, compute, write), with a breakdown per stage,
including the tear sheet's statistics, charts and HTML size.

The data is generated into a temporary folder (a seeded random walk), so runs are
reproducible. Run alone with ``python -m benchmarks sdk``.
"""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
from click.testing import CliRunner

from app.cli import cli
from app.metrics.performance import performance
from app.sdk.backtest import backtest
from app.sdk.io import read_prices, read_returns
from app.sdk.report import build_report, render_html, write_report
from app.sdk.series import ReturnSeries, load_returns

ROWS = 1_000_000


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    out = fn()
    return time.perf_counter() - started, out


def _write_data(folder: Path) -> tuple[Path, Path, Path]:
    rng = random.Random(6)
    price = 100.0
    lines = ["date,close"]
    # One-minute bars: a million of them span about two years.
    stamps = np.datetime_as_string(np.datetime64("2020-01-01T00:00", "m")
                                   + np.arange(ROWS).astype("timedelta64[m]"))
    for stamp in stamps.tolist():
        price *= 1.0 + rng.gauss(0.00002, 0.001)
        lines.append(f"{stamp},{price:.6f}")
    prices = folder / "prices.csv"
    prices.write_text("\n".join(lines) + "\n")
    returns = [round(rng.gauss(0.0002, 0.01), 6) for _ in range(ROWS)]
    rjson = folder / "returns.json"
    rjson.write_bytes(msgspec.json.encode({"returns": returns}))
    rcsv = folder / "returns.csv"
    rcsv.write_text("return\n" + "\n".join(map(str, returns)) + "\n")
    return prices, rjson, rcsv


def _cli(*args: str) -> None:
    result = CliRunner().invoke(cli, list(args))
    if result.exit_code != 0:
        raise RuntimeError(f"worldgate {' '.join(args)} failed: {result.output}")


def main() -> None:
    """Print the timings (seconds) of each stage and of the whole commands."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t, (prices_csv, returns_json, returns_csv) = _timed(lambda: _write_data(folder))
        print(f"generated {ROWS:,} prices and {ROWS:,} returns in {t:.1f} s")

        t_read, prices = _timed(lambda: read_prices(prices_csv))
        print(f"read_prices (CSV, {len(prices):,} rows):        {t_read:6.2f} s")
        for strategy in ("buy_hold", "sma_cross"):
            t, rets = _timed(lambda s=strategy: backtest(prices, s, fast=10, slow=30))
            print(f"backtest {strategy:<9} ({len(rets):,} periods):  {t:6.2f} s")
        values = np.asarray(rets)
        t, _ = _timed(lambda: performance(values, benchmark=values * 0.5))
        print(f"performance (1M returns, with benchmark):  {t:6.2f} s")
        t, rep = _timed(lambda: build_report(rets))
        print(f"build_report (1M undated returns):          {t:6.2f} s")
        dates = np.datetime64("2020-01-01T00:01", "s") + np.arange(len(values)) * 60
        dated = ReturnSeries(values, dates.astype("datetime64[s]"))
        t, full = _timed(lambda: build_report(dated, benchmark=ReturnSeries(values * 0.5,
                                                                            dated.dates)))
        print(f"build_report (1M dated, with benchmark):    {t:6.2f} s")
        t, page = _timed(lambda: render_html(full))
        print(f"render tear sheet HTML (1M dated + bench):  {t:6.2f} s, {len(page) / 1e3:.0f} kB")
        for ext in ("md", "json", "html"):
            t, _ = _timed(lambda e=ext: write_report(rep, folder / f"r.{e}"))
            print(f"write report.{ext:<4}                         {t:6.3f} s")

        t, loaded = _timed(lambda: read_returns(returns_json))
        print(f"read_returns JSON ({len(loaded):,}):             {t:6.2f} s")
        t, series = _timed(lambda: load_returns(returns_json))
        print(f"load_returns JSON, unit check ({len(series.values):,}): {t:6.2f} s")
        t, loaded = _timed(lambda: read_returns(returns_csv))
        print(f"read_returns CSV ({len(loaded):,}):              {t:6.2f} s")

        for strategy in ("buy_hold", "sma_cross"):
            t, _ = _timed(lambda s=strategy: _cli(
                "backtest", "--prices", str(prices_csv), "--strategy", s,
                "--out", str(folder / f"bt-{s}")))
            print(f"CLI backtest {strategy:<9} 1M rows, end to end:  {t:6.2f} s")
        for source, ext in ((returns_json, "html"), (returns_csv, "md")):
            t, _ = _timed(lambda s=source, e=ext: _cli(
                "report", "--from", str(s), "--out", str(folder / f"report.{e}")))
            print(f"CLI report {source.suffix[1:]}->{ext:<4} 1M returns, end to end: {t:6.2f} s")
