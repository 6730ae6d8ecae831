"""The SDK guide's example program runs against live v1 and v2 servers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "sdk_runner.py"


def _run(url: str) -> str:
    done = subprocess.run([sys.executable, str(EXAMPLE), url], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env={"PYTHONPATH": str(ROOT)}, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_example_uses_v2_on_a_v2_gateway(served_v2: str) -> None:
    out = _run(served_v2)
    assert "using v2" in out and "trend@core sharpe per period:" in out
    assert "core: BTC -" in out


def test_example_falls_back_to_v1(served_v1: str) -> None:
    out = _run(served_v1)
    assert "using v1" in out and "sharpe" not in out
