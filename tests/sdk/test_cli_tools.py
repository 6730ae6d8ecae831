"""``worldgate report|backtest|rehearse|rollout`` through click's runner."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner

from app.cli import cli
from app.metrics.alpha import compute_metrics, compute_metrics_raw
from app.sdk import cli_tools
from app.sdk.client import GatewayClient
from app.sdk.io import read_returns
from tests.sdk.conftest import V2_OVERRIDES, serve_process

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("source", ["returns.json", "returns.csv"])
@pytest.mark.parametrize("ext", ["md", "json", "html"])
def test_report_formats(tmp_path: Path, source: str, ext: str) -> None:
    out = tmp_path / f"report.{ext}"
    code, stdout, _ = run("report", "--from", str(EXAMPLES / source), "--out", str(out))
    assert code == 0
    assert f"wrote {out} ({ext}, 60 periods)" in stdout
    assert out.stat().st_size > 0


def test_report_numbers_equal_metrics_module(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    code, _, _ = run("report", "--from", str(EXAMPLES / "returns.json"), "--out", str(out),
                     "--rf", "0.0001", "--transaction-cost", "0.0002")
    assert code == 0
    data = msgspec.json.decode(out.read_bytes())
    want = compute_metrics_raw(read_returns(EXAMPLES / "returns.json"), rf=0.0001,
                               transaction_cost=0.0002)
    assert data["metrics"] == want


def test_report_html_has_chart(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    run("report", "--from", str(EXAMPLES / "returns.json"), "--out", str(out))
    page = out.read_text()
    assert "<svg" in page and "equity" in page and "drawdown" in page


@pytest.mark.parametrize(
    ("content", "message"),
    [('{"values": [0.1]}', 'expected a JSON object with a "returns" list'),
     ("[0.1, 0.2]", 'expected a JSON object with a "returns" list'),
     ("{not json", "is not valid JSON")],
)
def test_report_bad_input(tmp_path: Path, content: str, message: str) -> None:
    source = tmp_path / "in.json"
    source.write_text(content)
    code, _, err = run("report", "--from", str(source), "--out", str(tmp_path / "r.md"))
    assert code == 2
    assert "Invalid value for --from" in err and message in err


def test_report_rejects_non_finite_rates(tmp_path: Path) -> None:
    code, _, err = run("report", "--from", str(EXAMPLES / "returns.json"), "--out",
                       str(tmp_path / "r.md"), "--rf", "nan")
    assert code == 2 and "Invalid value for --rf: must be a finite number" in err


def test_report_unreadable_and_bad_extension(tmp_path: Path) -> None:
    code, _, err = run("report", "--from", str(tmp_path / "missing.json"), "--out",
                       str(tmp_path / "r.md"))
    assert code == 2 and "cannot read" in err and "missing.json" in err
    code, _, err = run("report", "--from", str(EXAMPLES / "returns.json"), "--out",
                       str(tmp_path / "r.pdf"))
    assert code == 2 and "Invalid value for --out" in err


@pytest.mark.parametrize("strategy", ["buy_hold", "sma_cross"])
def test_backtest_writes_returns_metrics_and_report(tmp_path: Path, strategy: str) -> None:
    out = tmp_path / "bt"
    code, stdout, _ = run("backtest", "--prices", str(EXAMPLES / "prices.csv"), "--strategy",
                          strategy, "--fast", "5", "--slow", "20", "--out", str(out))
    assert code == 0
    assert f"{strategy}: 259 periods" in stdout
    returns = read_returns(out / "returns.json")
    metrics = msgspec.json.decode((out / "metrics.json").read_bytes())
    assert metrics["metrics"] == compute_metrics(returns)
    assert metrics["strategy"] == strategy
    assert (out / "report.md").read_text().startswith(f"# Backtest {strategy}")
    assert "<svg" in (out / "report.html").read_text()


def test_backtest_progress_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_tools, "PROGRESS_MIN_ROWS", 10)
    code, _, _ = run("backtest", "--prices", str(EXAMPLES / "prices.csv"), "--out",
                     str(tmp_path / "bt"))
    assert code == 0


def test_backtest_bad_input(tmp_path: Path) -> None:
    prices = str(EXAMPLES / "prices.csv")
    code, _, err = run("backtest", "--prices", prices, "--strategy", "sma_cross", "--fast", "20",
                       "--slow", "10", "--out", str(tmp_path))
    assert code == 2 and "Invalid value for --slow" in err
    code, _, err = run("backtest", "--prices", str(tmp_path / "nope.csv"), "--out", str(tmp_path))
    assert code == 2 and "cannot read" in err
    code, _, err = run("backtest", "--prices", prices, "--strategy", "moon", "--out", "x")
    assert code == 2 and "moon" in err
    one = tmp_path / "one.csv"
    one.write_text("close\n10\n")
    code, _, err = run("backtest", "--prices", str(one), "--out", str(tmp_path))
    assert code == 2 and "at least 2 prices" in err


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
