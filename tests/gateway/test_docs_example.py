"""The execute docs example runs against a real server and prints the expected orders."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from app.main import create_app
from app.settings import Settings
from app.testing import serve_in_thread

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "execute_dry_run.py"


def test_execute_dry_run_example(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(
        {
            "worldservice": {"server": {"compat_rebalance_v2": True}},
            "gateway": {"rebalance_schema_version": 2, "alpha_metrics_capable": True},
        }
    )
    with serve_in_thread(create_app(settings)) as url:
        done = subprocess.run(
            [sys.executable, str(EXAMPLE), url], capture_output=True, text=True, timeout=60
        )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "gateway: schema v2, alpha_metrics_capable=True, ok"
    assert "negotiated schema v2" in lines
    assert "a: sell 1.0 BTC reduce_only" in lines
    assert "a: buy 5.0 ETH reduce_only" in lines
