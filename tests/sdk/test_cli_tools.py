"""``worldgate rehearse|rollout`` through click's runner."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner

from app.cli import cli
from app.metrics.alpha import compute_metrics
from app.sdk.client import GatewayClient
from tests.sdk.conftest import V2_OVERRIDES, serve_process


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_rehearse_passes_against_v2(served_v2: str, tmp_path: Path) -> None:
    out = tmp_path / "rehearsal"
    code, stdout, err = run("rehearse", "--url", served_v2, "--out", str(out))
    assert code == 0, stdout + err
    assert "rehearsal passed" in stdout
    names = {p.name for p in out.iterdir()}
    assert names == {"health.json", "request.json", "plan.json", "report.md", "rehearse.log"}
    request = msgspec.json.decode((out / "request.json").read_bytes())
    plan = msgspec.json.decode((out / "plan.json").read_bytes())
    assert request["schema_version"] == 2 and request["realized_returns_by_strategy"]
    assert plan["schema_version"] == 2
    assert plan["rebalance_intent"] == request["rebalance_intent"]
    report = (out / "report.md").read_text()
    assert "PASS" in report
    assert "## alpha_performance per world" in report and "| trend | core |" in report
    assert plan["alpha_metrics"]["per_world"]["core"] == pytest.approx(
        compute_metrics(request["realized_returns_by_world"]["core"]))
    assert "rehearse_finished ok=True" in (out / "rehearse.log").read_text()


def test_rehearse_fails_with_reason_against_v1(served_v1: str, tmp_path: Path) -> None:
    out = tmp_path / "rehearsal"
    code, _, err = run("rehearse", "--url", served_v1, "--out", str(out))
    assert code == 1
    assert "rehearsal failed: gateway health: gateway advertises rebalance_schema_version=1" \
        in err
    assert (out / "health.json").exists() and not (out / "plan.json").exists()
    assert "FAIL" in (out / "report.md").read_text()


def test_rehearse_unreachable(tmp_path: Path, dead_url: str) -> None:
    code, _, err = run("rehearse", "--url", dead_url, "--timeout", "1", "--out",
                       str(tmp_path))
    assert code == 2 and "unreachable" in err


def test_rollout_ready_against_v2(served_v2: str, tmp_path: Path) -> None:
    code, stdout, err = run("rollout", "--url", served_v2, "--out", str(tmp_path),
                         "--event-timeout", "30")  # a hang guard, not a speed check
    report = msgspec.json.decode((tmp_path / "rollout.json").read_bytes())
    assert code == 0, report
    assert report["ok"] is True and len(report["checks"]) == 7
    assert all(c["ok"] for c in report["checks"])
    assert "ready for schema v2" in stdout and "✅" in stdout
    assert "READY" in (tmp_path / "rollout.md").read_text()


def test_rollout_not_ready_against_v1(served_v1: str, tmp_path: Path) -> None:
    code, stdout, _ = run("rollout", "--url", served_v1, "--out", str(tmp_path),
                          "--event-timeout", "1")
    assert code == 1
    report = msgspec.json.decode((tmp_path / "rollout.json").read_bytes())
    rows = {c["name"]: c for c in report["checks"]}
    assert rows["WorldService serves schema v2"]["ok"] is False
    assert rows["Gateway advertises v2 and alpha_metrics_capable"]["ok"] is False
    assert "rebalance_schema_version=1" in \
        rows["Gateway advertises v2 and alpha_metrics_capable"]["evidence"]
    # It stops at the first failing stage: nothing else is sent, above all no apply.
    assert report["skipped"][-1].startswith("rebalancing_planned reaches")
    assert "v1 request gets a clean v1 answer" not in rows
    assert "❌" in stdout and "not ready" in stdout and "not run (stopped" in stdout
    with GatewayClient(served_v1) as client:
        touched = {w for p in client.iter_plans() for w in p["world_ids"]}
    assert not [w for w in touched if w.startswith("rollout-")]


def test_rollout_unreachable(dead_url: str) -> None:
    code, _, _ = run("rollout", "--url", dead_url, "--timeout", "1")
    assert code == 2


def test_rollout_when_v2_is_required(tmp_path: Path) -> None:
    overrides = {**V2_OVERRIDES, "worldservice": {"server": {
        "compat_rebalance_v2": True, "alpha_metrics_required": True}}}
    with serve_process(overrides, tmp_path) as url:
        code, _, _ = run("rollout", "--url", url, "--out", str(tmp_path / "out"))
    report = msgspec.json.decode((tmp_path / "out" / "rollout.json").read_bytes())
    assert code == 0, report
    rows = {c["name"]: c for c in report["checks"]}
    assert "alpha_metrics_required=True" in rows["WorldService serves schema v2"]["evidence"]
    assert "E_SCHEMA_VERSION_REQUIRED" in rows["v1 request gets a clean v1 answer"]["evidence"]


def test_rollout_flags_a_gateway_ahead_of_worldservice(tmp_path: Path) -> None:
    overrides = {"gateway": {"rebalance_schema_version": 2, "alpha_metrics_capable": True}}
    with serve_process(overrides, tmp_path) as url:
        code, _, _ = run("rollout", "--url", url, "--out", str(tmp_path / "out"),
                         "--event-timeout", "1")
    assert code == 1
    report = msgspec.json.decode((tmp_path / "out" / "rollout.json").read_bytes())
    rows = {c["name"]: c for c in report["checks"]}
    agree = rows["Gateway agrees with WorldService"]
    assert agree["ok"] is False
    assert "gateway asks for v2, WorldService serves up to v1" in agree["evidence"]
