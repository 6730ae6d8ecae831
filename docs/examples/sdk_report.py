"""Reports and backtests without a server: the six metrics, equity and drawdown.

Usage: python docs/examples/sdk_report.py OUT_DIR   (run from the repository root)
"""

from __future__ import annotations

import sys
from pathlib import Path

from app.sdk.backtest import backtest
from app.sdk.io import read_prices, read_returns
from app.sdk.report import build_report, write_report


def main(out_dir: str) -> int:
    """Report a returns file, backtest a price file, write both reports."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    returns = read_returns("examples/returns.json")
    rep = build_report(returns, title="trend", rf=0.0, transaction_cost=0.0)
    print(f"sharpe {rep.metrics['alpha_performance.sharpe']:.6f}")  # None = undefined
    write_report(rep, out / "report.html")  # the format comes from the extension
    strategy_returns = backtest(read_prices("examples/prices.csv"), "sma_cross", fast=10,
                                slow=30)
    write_report(build_report(strategy_returns, title="sma_cross"), out / "backtest.md")
    print(f"backtest over {len(strategy_returns)} periods")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "var/sdk-report"))
