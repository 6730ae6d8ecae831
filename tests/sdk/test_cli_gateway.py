"""``worldgate health|plan|apply|execute`` through click's runner against live servers."""

from __future__ import annotations

import uuid
from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner

from app.cli import cli
from app.metrics.alpha import compute_metrics
from app.sdk.io import read_returns
from tests.sdk.conftest import serve_process

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
POSITIONS = str(EXAMPLES / "positions.json")
TARGET = "core=0.5,alpha=0.5"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_health_met(served_v2: str) -> None:
    code, out, _ = run("health", "--url", served_v2, "--expect-schema-version", "2",
                       "--expect-alpha-metrics")
    assert code == 0
    assert out.startswith("ok: ") and "rebalance_schema_version=2" in out


def test_health_not_met_gives_one_line_reason(served_v1: str) -> None:
    code, out, _ = run("health", "--url", served_v1, "--expect-schema-version", "2",
                       "--expect-alpha-metrics")
    assert code == 1
    assert out.count("\n") == 1
    assert out.startswith("not met: gateway advertises rebalance_schema_version=1, expected >= 2")
    assert "alpha_metrics_capable" in out


def test_health_v1_expectation_met_on_v1(served_v1: str) -> None:
    code, out, _ = run("health", "--url", served_v1, "--expect-schema-version", "1", "--json")
    assert code == 0
    assert msgspec.json.decode(out.splitlines()[0])["rebalance_schema_version"] == 1


def test_health_unreachable(dead_url: str) -> None:
    code, _, err = run("health", "--url", dead_url, "--timeout", "1")
    assert code == 2
    assert err.startswith("unreachable: ")


def test_plan_json_v1(served_v1: str) -> None:
    code, out, _ = run("plan", "--url", served_v1, "--target", TARGET, "--positions", POSITIONS)
    assert code == 0, out
    plan = msgspec.json.decode(out)
    assert plan["schema_version"] == 1 and set(plan["per_world"]) == {"core", "alpha"}
    # before was derived from the positions: core holds 360k of 630k gross.
    assert plan["per_world"]["core"]["scale_world"] == pytest.approx(0.5 / (360 / 630))


def test_plan_v2_with_returns_and_intent(served_v2: str) -> None:
    returns = str(EXAMPLES / "returns.json")
    code, out, _ = run("plan", "--url", served_v2, "--target", TARGET, "--positions",
                       str(EXAMPLES / "positions.csv"), "--total-equity", "1000000",
                       "--before", "core=0.36,alpha=0.16", "--schema-version", "2",
                       "--strategy-returns", f"core:trend={returns}", "--intent", "ticket=OPS-1",
                       "--world-returns", f"alpha={EXAMPLES / 'returns.csv'}")
    assert code == 0, out
    plan = msgspec.json.decode(out)
    assert plan["schema_version"] == 2
    assert plan["rebalance_intent"] == {"meta": {"ticket": "OPS-1"}}
    want = compute_metrics(read_returns(returns))
    assert plan["alpha_metrics"]["per_strategy"]["trend"]["core"] == pytest.approx(want)
    assert plan["alpha_metrics"]["per_world"]["alpha"] == pytest.approx(want)
    assert plan["alpha_metrics"]["per_world"]["core"]["alpha_performance.sharpe"] == 0.0


def test_plan_table(served_v2: str) -> None:
    code, out, _ = run("plan", "--url", served_v2, "--target", TARGET, "--positions", POSITIONS,
                       "--schema-version", "2", "--output", "table")
    assert code == 0
    assert "plan (schema_version=2)" in out and "BTCUSDT" in out
    assert "alpha_performance per world" in out


def test_plan_from_request_file(served_v1: str, tmp_path: Path) -> None:
    body = {"total_equity": 1000.0, "world_alloc_before": {"w": 1.0},
            "world_alloc_after": {"w": 0.5},
            "positions": [{"world_id": "w", "strategy_id": "s", "symbol": "X", "qty": 10.0,
                           "mark": 100.0}]}
    path = tmp_path / "req.json"
    path.write_bytes(msgspec.json.encode(body))
    code, out, _ = run("plan", "--url", served_v1, "--request", str(path))
    assert code == 0
    assert msgspec.json.decode(out)["per_world"]["w"]["deltas"][0]["delta_qty"] == -5.0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "core=0.5,alpha", "--positions", POSITIONS],
         "Invalid value for --target: expected world=fraction"),
        (["--target", "core=2", "--positions", POSITIONS], "must be in [0, 1]"),
        (["--target", TARGET, "--positions", "/nonexistent/p.json"],
         "Invalid value for --positions: cannot read /nonexistent/p.json"),
        (["--positions", POSITIONS], "give --target and --positions"),
        (["--target", TARGET, "--positions", POSITIONS, "--before", "core"],
         "Invalid value for --before"),
        (["--target", TARGET, "--positions", POSITIONS, "--intent", "novalue"],
         "Invalid value for --intent"),
        (["--target", TARGET, "--positions", POSITIONS, "--strategy-returns", "core=x.json"],
         "WORLD:STRATEGY=FILE"),
        (["--target", TARGET, "--positions", POSITIONS, "--world-returns", "core"],
         "Invalid value for --world-returns: expected WORLD=FILE"),
        (["--target", TARGET, "--positions", POSITIONS, "--world-returns", "core=/nope.json"],
         "cannot read /nope.json"),
    ],
)
def test_plan_bad_input(served_v1: str, args: list[str], message: str) -> None:
    code, _, err = run("plan", "--url", served_v1, *args)
    assert code == 2
    assert message in err


def test_plan_server_rejection_exits_1(served_v1: str) -> None:
    code, _, err = run("plan", "--url", served_v1, "--target", "core=0.5", "--before", "core=0.5",
                       "--positions", POSITIONS)
    assert code == 1
    assert err.startswith("error: 422 E_")


def test_plan_unreachable(dead_url: str) -> None:
    code, _, err = run("plan", "--url", dead_url, "--timeout", "1", "--target",
                       TARGET, "--positions", POSITIONS)
    assert code == 2 and "unreachable" in err


def test_apply_with_run_id_is_idempotent(served_v2: str) -> None:
    run_id = f"cli-{uuid.uuid4().hex}"
    args = ("apply", "--url", served_v2, "--target", TARGET, "--positions", POSITIONS,
            "--schema-version", "2", "--run-id", run_id)
    code1, out1, err1 = run(*args)
    assert code1 == 0, err1
    code2, out2, _ = run(*args)
    assert code2 == 0
    assert msgspec.json.decode(out1) == msgspec.json.decode(out2)
    code3, _, err3 = run("apply", "--url", served_v2, "--target", "core=0.4,alpha=0.6",
                         "--positions", POSITIONS, "--run-id", run_id)
    assert code3 == 1 and "409" in err3


def test_execute_dry_run_and_guards(served_v1: str) -> None:
    base = ("execute", "--url", served_v1, "--target", TARGET, "--positions", POSITIONS)
    code, out, err = run(*base)
    assert code == 0, err
    answer = msgspec.json.decode(out)
    assert answer["rebalance_schema_version"] == 1
    code, out, _ = run(*base, "--output", "table")
    assert code == 0 and "orders" in out and "BTCUSDT" in out
    code, _, err = run(*base, "--submit")
    assert code == 1 and "E_PERMISSION_DENIED" in err
    code, _, err = run(*base, "--shared-account")
    assert code == 1 and "E_SHARED_ACCOUNT_DISABLED" in err


def test_execute_submit_with_allow_live(served_v1: str) -> None:
    code, out, err = run("execute", "--url", served_v1, "--target", TARGET, "--positions",
                         POSITIONS, "--submit", "--allow-live", "--per-strategy")
    assert code == 0, err
    assert msgspec.json.decode(out)


def test_health_fails_when_worldservice_lags_the_gateway(tmp_path: Path) -> None:
    overrides = {"gateway": {"rebalance_schema_version": 2, "alpha_metrics_capable": True}}
    with serve_process(overrides, tmp_path) as url:
        code, out, _ = run("health", "--url", url, "--expect-schema-version", "2",
                           "--expect-alpha-metrics")
    assert code == 1
    assert "worldservice supports schema_version 1 only, expected >= 2" in out
    assert "status is 'degraded'" in out
