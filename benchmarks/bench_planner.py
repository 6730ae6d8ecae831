"""Planner benchmark: columns + validate + plan at 1k…1M positions (100 worlds × 5 strategies, 2,000
symbols, 3 venues); time per position per size and peak RSS, each size in its own process."""

from __future__ import annotations

import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

from app.contracts.rebalancing import PositionSlice, RebalanceRequest
from app.worldservice.planner import columns, compute_plan
from app.worldservice.validation import validate_request

SIZES = (1_000, 10_000, 100_000, 1_000_000)
WORLDS = 100
STRATEGIES = 5
SYMBOLS = 2_000
VENUES = ("binance", "coinbase", "kraken")


def build_request(n: int, seed: int = 7) -> RebalanceRequest:
    """A deterministic request with ``n`` positions spread over the benchmark universe."""
    rng = random.Random(seed)
    worlds = [f"world-{i:03d}" for i in range(WORLDS)]
    strategies = [f"strat-{i}" for i in range(STRATEGIES)]
    symbols = [f"SYM{i:04d}" for i in range(SYMBOLS)]
    marks = {s: rng.uniform(1.0, 5_000.0) for s in symbols}
    positions = []
    for _ in range(n):
        symbol = rng.choice(symbols)
        positions.append(
            PositionSlice(
                world_id=rng.choice(worlds),
                strategy_id=rng.choice(strategies),
                symbol=symbol,
                qty=rng.uniform(-50.0, 50.0),
                mark=marks[symbol] * rng.uniform(0.99, 1.01),
                venue=rng.choice(VENUES),
            )
        )
    before = {w: 1.0 / WORLDS for w in worlds}
    after = {w: rng.uniform(0.5, 1.5) / WORLDS for w in worlds}
    explicit = {
        w: {s: rng.uniform(0.0, 0.4) / WORLDS for s in strategies} for w in worlds[::2]
    }
    return RebalanceRequest(
        total_equity=50_000_000.0,
        world_alloc_before=before,
        world_alloc_after=after,
        positions=positions,
        strategy_alloc_after_total=explicit,
        min_trade_notional=10.0,
        lot_size_by_symbol={s: rng.choice((0.001, 0.01, 1.0)) for s in symbols},
    )


def _peak_rss_mb() -> float:
    """Peak resident memory of this process (VmHWM; ru_maxrss can carry the forking
    parent's peak across exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(n: int) -> dict[str, float]:
    """Run one size in this process and return its figures."""
    req = build_request(n)
    rss_before = _peak_rss_mb()
    repeats = 5 if n <= 10_000 else 3 if n <= 100_000 else 2
    best = best_cpu = float("inf")
    outputs = 0
    for _ in range(repeats):
        started, started_cpu = time.perf_counter(), time.process_time()
        cols = columns(req.positions)  # shared by validation and planning, as in the API
        validate_request(req, cols=cols)
        parts = compute_plan(req, cols)
        best = min(best, time.perf_counter() - started)
        # CPU time of this process: the shared VM's other load does not count against it.
        best_cpu = min(best_cpu, time.process_time() - started_cpu)
        outputs = sum(len(p.deltas) for p in parts.per_world.values())
    peak = _peak_rss_mb()
    return {
        "positions": n,
        "seconds": best,
        "cpu_seconds": best_cpu,
        "us_per_position": best_cpu / n * 1e6,
        "world_deltas": outputs,
        "global_deltas": len(parts.global_deltas),
        "rss_input_mb": rss_before,
        "rss_peak_mb": peak,
    }


def main() -> None:
    """Run every size in a fresh subprocess and print a table."""
    print(f"{'positions':>10} {'wall s':>8} {'cpu s':>8} {'cpu µs/pos':>10} {'deltas':>8} "
          f"{'global':>7} {'RSS input MB':>12} {'RSS peak MB':>11}")
    rows = []
    for n in SIZES:
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks.bench_planner", str(n)],
            check=True, capture_output=True, text=True,
            # The planner calls no BLAS; without this, OpenBLAS's thread pool (started when
            # numpy is imported) sometimes adds its spin time to the process CPU figure.
            env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
        ).stdout
        row = json.loads(out.strip().splitlines()[-1])
        rows.append(row)
        print(f"{n:>10,} {row['seconds']:>8.3f} {row['cpu_seconds']:>8.3f} "
              f"{row['us_per_position']:>10.2f} "
              f"{row['world_deltas']:>8,} {row['global_deltas']:>7,} "
              f"{row['rss_input_mb']:>12.0f} {row['rss_peak_mb']:>11.0f}", flush=True)
    per = {r["positions"]: r["us_per_position"] for r in rows}
    flat = max(per[n] for n in SIZES[1:]) / min(per[n] for n in SIZES[1:])
    print(f"CPU time per position, max/min over 10k..1M: {flat:.2f}x (target <= 2x)")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        print(json.dumps(measure(int(sys.argv[1]))))
    else:
        main()
