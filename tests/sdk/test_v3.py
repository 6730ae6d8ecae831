"""The SDK and CLI speak schema v3: Runner with a policy, ``plan --policy``, health, rollout
and rehearse for v3, against live servers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner

from app.cli import cli
from app.contracts.policy import Band, RebalancePolicy
from app.contracts.rebalancing import PlanV2, PlanV3
from app.sdk.client import AsyncGatewayClient, GatewayClient
from app.sdk.errors import WorldgateError
from app.sdk.runner import Runner
from app.sdk.runner_async import AsyncRunner
from app.sdk.samples import sample_policy, sample_request, sample_returns
from tests.sdk.conftest import V2_OVERRIDES, V3_OVERRIDES

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
POSITIONS = str(EXAMPLES / "positions.json")
TARGET = "core=0.5,alpha=0.5"
POLICY_TOML = """\
max_turnover = 0.001

[band]
abs = 0.001

[cash]
available = 10000.0
buffer = 0.01

[costs.default]
fee_bps = 5.0
slippage_bps = 2.0

[costs.by_venue.binance]
fee_bps = 10.0
min_fee = 1.0
"""


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_runner_plans_v3_with_a_policy(live_server: Callable[..., str]) -> None:
    with GatewayClient(live_server(V3_OVERRIDES)) as client:
        runner = Runner(client)
        assert runner.start().schema_version == 3
        plan = runner.plan(sample_request(), returns_by_strategy=sample_returns(),
                           policy=sample_policy())
    assert isinstance(plan, PlanV3)
    assert {s.code for s in plan.skipped} >= {"TURNOVER_CAPPED", "CASH_LIMITED"}
    assert plan.funding is not None and plan.funding.buy_scale < 1.0
    assert set(plan.projection.per_world) == {"core", "alpha"}
    assert plan.alpha_metrics.per_strategy["trend"]["core"]


def test_runner_on_v2_never_drops_a_policy(live_server: Callable[..., str]) -> None:
    with GatewayClient(live_server(V2_OVERRIDES)) as client:
        runner = Runner(client)
        assert runner.start().schema_version == 2
        assert isinstance(runner.plan(sample_request()), PlanV2)
        with pytest.raises(WorldgateError) as caught:
            runner.plan(sample_request(), policy=RebalancePolicy(band=Band(abs=0.01)))
    assert (caught.value.status, caught.value.code) == (422, "E_POLICY_REQUIRES_V3")


@pytest.mark.anyio
async def test_async_runner_plans_v3(live_server: Callable[..., str]) -> None:
    async with AsyncGatewayClient(live_server(V3_OVERRIDES)) as client:
        runner = AsyncRunner(client)
        assert (await runner.start()).schema_version == 3
        plan = await runner.plan(sample_request(), policy=sample_policy())
        applied = await runner.apply(sample_request(), run_id="v3-async", policy=sample_policy())
    assert isinstance(plan, PlanV3) and isinstance(applied, PlanV3)
    assert applied.run_id == "v3-async" and applied.skipped == plan.skipped


def test_health_expects_v3(served_v3: str) -> None:
    code, out, _ = run("health", "--url", served_v3, "--expect-schema-version", "3",
                       "--expect-alpha-metrics")
    assert code == 0, out
    assert "rebalance_schema_version=3" in out


def test_health_v3_not_met_on_v2(live_server: Callable[..., str]) -> None:
    code, out, _ = run("health", "--url", live_server(V2_OVERRIDES),
                       "--expect-schema-version", "3")
    assert code == 1
    assert "not met: gateway advertises rebalance_schema_version=2, expected >= 3" in out


def test_plan_with_a_toml_policy_prints_skipped_and_projection(
    served_v3: str, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY_TOML)
    code, out, err = run("plan", "--url", served_v3, "--target", TARGET, "--positions",
                         POSITIONS, "--schema-version", "3", "--policy", str(policy),
                         "--output", "table")
    assert code == 0, out + err
    assert "plan (schema_version=3)" in out
    assert "skipped (not traded)" in out and "TURNOVER_CAPPED" in out
    assert "projection" in out and "(total)" in out
    assert "funding: available 10,000.00" in out and "buy scale" in out


def test_plan_with_a_json_policy(served_v3: str, tmp_path: Path) -> None:
    policy = tmp_path / "policy.json"
    policy.write_bytes(msgspec.json.encode({"policy": {"max_turnover": 0.01}}))
    code, out, err = run("plan", "--url", served_v3, "--target", TARGET, "--positions",
                         POSITIONS, "--policy", str(policy))
    assert code == 0, out + err
    plan = msgspec.json.decode(out)
    assert plan["schema_version"] == 3  # the Gateway asks for its configured v3
    assert plan["projection"]["total"]["turnover_weight"] <= 0.01 + 1e-12
    assert {s["code"] for s in plan["skipped"]} >= {"TURNOVER_CAPPED"}


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("p.yaml", "band: {}", "must end in .toml or .json"),
        ("p.toml", "band = [", "is not valid TOML"),
        ("p.toml", "[cash]\nbuffer = 2.0\navailable = 1.0\n", "is not a valid policy"),
        ("p.json", "{", "is not valid JSON"),
    ],
)
def test_a_bad_policy_file_is_a_usage_error(
    served_v3: str, tmp_path: Path, name: str, text: str, message: str
) -> None:
    policy = tmp_path / name
    policy.write_text(text)
    code, _, err = run("plan", "--url", served_v3, "--target", TARGET, "--positions",
                       POSITIONS, "--policy", str(policy))
    assert code == 2 and "--policy" in err and message in err


def test_a_policy_against_v2_fails_with_the_code(tmp_path: Path,
                                                 live_server: Callable[..., str]) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY_TOML)
    code, _, err = run("plan", "--url", live_server(V2_OVERRIDES), "--target", TARGET,
                       "--positions", POSITIONS, "--policy", str(policy))
    assert code == 1 and "E_POLICY_REQUIRES_V3" in err
    assert "$.policy: needs schema_version >= 3" in err


def test_rollout_v3_ready_against_v3(served_v3: str, tmp_path: Path) -> None:
    code, stdout, _ = run("rollout", "--url", served_v3, "--target-version", "3", "--out",
                          str(tmp_path), "--event-timeout", "30")  # a hang guard
    report = msgspec.json.decode((tmp_path / "rollout.json").read_bytes())
    assert code == 0, report
    assert report["target_version"] == 3 and report["ok"] is True
    names = [c["name"] for c in report["checks"]]
    assert names == [
        "WorldService serves schema v3",
        "Gateway advertises v3 and alpha_metrics_capable",
        "Gateway agrees with WorldService",
        "v3 plan round-trips with computed metrics, intent, skipped deltas and projection",
        "v2 request gets a clean v2 answer",
        "v1 request gets a clean v1 answer",
        "a policy below v3 is refused with E_POLICY_REQUIRES_V3",
        "rebalancing_planned carries v3 metadata to a v3 WebSocket client",
        "v2 WebSocket client gets the event without v3 fields",
        "v1 WebSocket client gets the event without v2 or v3 fields",
    ]
    assert "ready for schema v3" in stdout
    assert "schema v3 rollout check" in (tmp_path / "rollout.md").read_text()


def test_rollout_v3_not_ready_against_v2(live_server: Callable[..., str],
                                         tmp_path: Path) -> None:
    code, _, _ = run("rollout", "--url", live_server(V2_OVERRIDES), "--target-version", "3",
                     "--out", str(tmp_path), "--event-timeout", "1")
    assert code == 1
    report = msgspec.json.decode((tmp_path / "rollout.json").read_bytes())
    rows = {c["name"]: c for c in report["checks"]}
    assert rows["WorldService serves schema v3"]["ok"] is False
    assert "'max_schema_version': 2" in rows["WorldService serves schema v3"]["evidence"]
    assert rows["Gateway advertises v3 and alpha_metrics_capable"]["ok"] is False
    # The run stops after the failed configuration stage: nothing else is sent.
    assert "v2 request gets a clean v2 answer" not in rows
    assert report["skipped"] == [
        "v3 plan round-trips", "lower versions get clean answers",
        "a policy below v3 is refused",
        "rebalancing_planned reaches each WebSocket client (applies a plan)"]


def test_rehearse_v3(served_v3: str, tmp_path: Path) -> None:
    out = tmp_path / "rehearsal"
    code, stdout, err = run("rehearse", "--url", served_v3, "--target-version", "3", "--out",
                            str(out))
    assert code == 0, stdout + err
    request = msgspec.json.decode((out / "request.json").read_bytes())
    plan = msgspec.json.decode((out / "plan.json").read_bytes())
    assert request["schema_version"] == 3 and request["policy"]["max_turnover"] == 0.05
    assert plan["schema_version"] == 3 and plan["funding"]["buy_scale"] < 1.0
    report = (out / "report.md").read_text()
    assert "# Worldgate v3 rehearsal" in report and "PASS" in report
    assert "## Skipped deltas" in report and "## Projection" in report


def test_rehearse_v3_fails_against_v2(live_server: Callable[..., str], tmp_path: Path) -> None:
    code, _, err = run("rehearse", "--url", live_server(V2_OVERRIDES), "--target-version", "3",
                       "--out", str(tmp_path))
    assert code == 1
    assert "gateway advertises rebalance_schema_version=2, expected >= 3" in err
