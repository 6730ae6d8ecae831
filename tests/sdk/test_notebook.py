"""The SDK as a notebook uses it: dict requests, plan.schema_version, rows, quiet logs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app.contracts.rebalancing import PlanV1, PlanV2
from app.sdk import AsyncGatewayClient, AsyncRunner, GatewayClient, Runner, metric_rows, plan_rows

ROOT = Path(__file__).resolve().parents[2]

REQUEST: dict[str, Any] = {
    "total_equity": 100_000.0,
    "world_alloc_before": {"core": 0.6, "alpha": 0.4},
    "world_alloc_after": {"core": 0.5, "alpha": 0.5},
    "positions": [
        {"world_id": "core", "strategy_id": "trend", "symbol": "BTC", "qty": 0.5,
         "mark": 60_000.0},
        {"world_id": "alpha", "strategy_id": "meanrev", "symbol": "ETH", "qty": 10.0,
         "mark": 3_000.0},
    ],
    "a_field_from_a_newer_contract": {"kept": True},
}
RETURNS = {"core": {"trend": [0.01, -0.02, 0.015]}}


def test_runner_plans_a_dict_on_v1(v1_url: str) -> None:
    with GatewayClient(v1_url) as gw:
        runner = Runner(gw)
        runner.start()
        plan = runner.plan(dict(REQUEST, schema_version=2), intent={"ticket": "NB-1"})
    assert isinstance(plan, PlanV1) and plan.schema_version == 1
    assert set(plan.per_world) == {"core", "alpha"}


def test_runner_plans_a_dict_on_v2(v2_url: str) -> None:
    with GatewayClient(v2_url) as gw:
        runner = Runner(gw)
        runner.start()
        shaped = runner.build_request(REQUEST, returns_by_strategy=RETURNS)
        plan = runner.plan(REQUEST, returns_by_strategy=RETURNS, intent={"ticket": "NB-2"})
    assert shaped["schema_version"] == 2 and shaped["a_field_from_a_newer_contract"]
    assert REQUEST.get("schema_version") is None  # the caller's dict is not changed
    assert isinstance(plan, PlanV2) and plan.schema_version == 2
    assert plan.rebalance_intent.meta == {"ticket": "NB-2"}
    rows = plan_rows(plan)
    assert {r["world_id"] for r in rows if r["scope"] == "per_world"} == {"core", "alpha"}
    assert all(set(r) == {"scope", "world_id", "venue", "symbol", "delta_qty", "scale_world"}
               for r in rows)
    metrics = metric_rows(plan)
    trend = [m for m in metrics if m["strategy_id"] == "trend"]
    assert len(trend) == 1 and trend[0]["world_id"] == "core" and trend[0]["sharpe"] != 0.0


@pytest.mark.anyio
async def test_async_runner_plans_a_dict(v2_url: str) -> None:
    async with AsyncGatewayClient(v2_url) as gw:
        runner = AsyncRunner(gw)
        await runner.start()
        plan = await runner.plan(REQUEST, returns_by_strategy=RETURNS)
    assert plan.schema_version == 2 and metric_rows(plan)


def test_v1_plans_have_no_metric_rows(v1_url: str) -> None:
    with GatewayClient(v1_url) as gw:
        plan = gw.plan(REQUEST)
    assert plan.schema_version == 1 and metric_rows(plan) == [] and plan_rows(plan)


@pytest.mark.parametrize("configured", [False, True])
def test_the_sdk_logs_only_to_its_logger(dead_url: str, configured: bool) -> None:
    setup = "logging.basicConfig(level=logging.INFO, stream=sys.stderr)" if configured else ""
    code = (f"import logging, sys\n{setup}\n"
            "from app.sdk import GatewayClient, Runner\n"
            f"with GatewayClient({dead_url!r}, timeout=1) as gw:\n"
            "    runner = Runner(gw, refresh_interval=0)\n"
            "    runner.start()\n"
            "    runner.refresh()\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env={"PYTHONPATH": str(ROOT)}, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""  # never printed, in any case
    if configured:  # the application's own logging set-up shows the SDK's events
        assert "WARNING:app.sdk.runner:runner_health_unreachable url=" in done.stderr
        assert "\x1b[" not in done.stderr
    else:
        assert done.stderr == ""
