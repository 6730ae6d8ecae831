"""Run every ``benchmarks/bench_*.py`` module's ``main()`` (or only those named on the
command line: ``python -m benchmarks planner relay``)."""

from __future__ import annotations

import importlib
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path


def main(argv: list[str]) -> int:
    """Run the selected benchmarks in name order; return a process exit code."""
    here = Path(__file__).resolve().parent
    names = sorted(p.stem for p in here.glob("bench_*.py"))
    if argv:
        names = [n for n in names if any(n == f"bench_{a}" or n == a for a in argv)]
    print(f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node()} "
          f"({platform.machine()}, Python {platform.python_version()})")
    for name in names:
        module = importlib.import_module(f"benchmarks.{name}")
        started = time.perf_counter()
        print(f"\n## {name}", flush=True)
        module.main()
        print(f"({name} took {time.perf_counter() - started:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
