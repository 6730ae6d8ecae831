"""An integration test against a real ``worldgate serve`` process, using ``app.testing``."""

from __future__ import annotations

from pathlib import Path

import httpx

from app.testing import serve_process


def test_plans_survive_a_restart(tmp_path: Path) -> None:
    """A plan applied before a restart is listed after it."""
    env = {
        "WORLDGATE__SERVER__ROLES": '["worldservice", "gateway"]',
        "WORLDGATE__STORE__SQLITE_PATH": str(tmp_path / "db.sqlite3"),
    }
    body = {
        "run_id": "restart-1",
        "total_equity": 1000.0,
        "world_alloc_before": {"a": 0.5, "b": 0.5},
        "world_alloc_after": {"a": 0.4, "b": 0.6},
        "positions": [{"world_id": "a", "strategy_id": "s", "symbol": "BTC", "qty": 1.0,
                       "mark": 100.0}],
    }
    log = tmp_path / "server.log"
    with serve_process(env, log_path=log) as server:
        applied = httpx.post(f"{server.url}/rebalancing/apply", json=body, trust_env=False)
        assert applied.status_code == 200, applied.text
    with serve_process(env, log_path=log) as server:  # same database, new process
        listed = httpx.get(f"{server.url}/worldservice/rebalancing/plans", trust_env=False)
    assert [plan["run_id"] for plan in listed.json()["plans"]] == ["restart-1"]
