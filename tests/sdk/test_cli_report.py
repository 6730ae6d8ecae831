"""``worldgate report`` (files and ``--plans``) and ``worldgate backtest`` through click."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner

from app.cli import cli
from app.metrics.alpha import compute_metrics, compute_metrics_raw
from app.sdk import cli_report
from app.sdk.client import AsyncGatewayClient, GatewayClient
from app.sdk.io import read_returns
from app.sdk.report_data import BENCHMARK_ONLY
from tests.sdk.conftest import EXAMPLES, V2_OVERRIDES, apply_plan_history, serve_process


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
    monkeypatch.setattr(cli_report, "PROGRESS_MIN_ROWS", 10)
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


def test_report_goes_to_stdout_without_out() -> None:
    code, stdout, _ = run("report", "--from", str(EXAMPLES / "returns.csv"))
    assert code == 0 and stdout.startswith("# Report of returns.csv")
    assert "| Win rate (non-flat periods) |" in stdout and "wrote" not in stdout
    code, stdout, _ = run("report", "--from", str(EXAMPLES / "returns.csv"), "--format", "json")
    assert code == 0 and msgspec.json.decode(stdout)["periods"] == 60
    code, stdout, _ = run("report", "--from", str(EXAMPLES / "returns.csv"), "--format", "html")
    assert code == 0 and stdout.startswith("<!doctype html>")


def test_report_format_must_match_the_extension(tmp_path: Path) -> None:
    code, _, err = run("report", "--from", str(EXAMPLES / "returns.csv"), "--out",
                       str(tmp_path / "r.md"), "--format", "html")
    assert code == 2 and "Invalid value for --format" in err


def test_report_needs_one_source() -> None:
    code, _, err = run("report")
    assert code == 2 and "give either --from FILE or --plans" in err
    code, _, err = run("report", "--from", str(EXAMPLES / "returns.csv"), "--plans")
    assert code == 2 and "give either --from FILE or --plans" in err


def test_percent_input_is_refused_unless_the_unit_is_given(tmp_path: Path) -> None:
    source = tmp_path / "pct.csv"
    source.write_text("return\n1.5\n-2.0\n0.7\n1.2\n-1.1\n")
    code, _, err = run("report", "--from", str(source))
    assert code == 2 and "Invalid value for --from" in err and "looks like percent" in err
    code, stdout, _ = run("report", "--from", str(source), "--returns-unit", "percent",
                          "--format", "json")
    data = msgspec.json.decode(stdout)
    assert code == 0 and data["performance"]["best"] == pytest.approx(0.015)
    code, stdout, _ = run("report", "--from", str(source), "--returns-unit", "fraction")
    assert code == 0 and not re.search(r"\d{13}", stdout)


def test_report_with_benchmark_and_frequency(tmp_path: Path) -> None:
    bench = tmp_path / "bench.csv"
    lines = (EXAMPLES / "returns.csv").read_text().splitlines()
    bench.write_text("\n".join([lines[0]] + [f"{d},{float(r) / 2}" for d, r in
                                             (ln.split(",") for ln in lines[1:])]) + "\n")
    code, stdout, _ = run("report", "--from", str(EXAMPLES / "returns.csv"), "--benchmark",
                          str(bench), "--periods-per-year", "12", "--format", "json")
    data = msgspec.json.decode(stdout)
    assert code == 0 and data["benchmark_name"] == "bench"
    assert data["performance"]["beta"] == pytest.approx(2.0)
    assert data["periods_per_year"] == 12 and data["periods_per_year_source"] == "given"
    short = tmp_path / "short.json"
    short.write_text('{"returns": [0.01]}')
    code, _, err = run("report", "--from", str(EXAMPLES / "returns.json"), "--benchmark",
                       str(short))
    assert code == 2 and "Invalid value for --benchmark" in err


def test_backtest_report_has_its_parameters_and_benchmark(tmp_path: Path) -> None:
    out = tmp_path / "bt"
    code, _, _ = run("backtest", "--prices", str(EXAMPLES / "prices.csv"), "--strategy",
                     "sma_cross", "--cost-bps", "5", "--out", str(out))
    assert code == 0
    page = (out / "report.html").read_text()
    for text in ("<dt>strategy</dt><dd>sma_cross</dd>", "<dt>fast</dt><dd>10</dd>",
                 "<dt>slow</dt><dd>30</dd>", "5 bps per position change",
                 "2025-01-02 → 2025-12-31 (260 prices)", "buy &amp; hold"):
        assert text in page
    metrics = msgspec.json.decode((out / "metrics.json").read_bytes())
    assert metrics["params"] == {"fast": 10, "slow": 30, "cost_bps": 5.0}
    assert metrics["performance"]["win_rate"] > 0.4  # flat periods do not count
    assert metrics["metrics"]["alpha_performance.win_ratio"] < 0.25  # the wire rule
    saved = msgspec.json.decode((out / "returns.json").read_bytes())
    assert saved["dates"][0] == "2025-01-03" and len(saved["dates"]) == 259
    code, stdout, _ = run("report", "--from", str(out / "returns.json"), "--format", "json")
    again = msgspec.json.decode(stdout)["performance"]
    # Without the benchmark the relative statistics are absent; the rest agree exactly.
    assert again == {k: (None if k in BENCHMARK_ONLY else v)
                     for k, v in metrics["performance"].items()}


def test_client_lists_applied_plans(live_server: Callable[..., str]) -> None:
    url = live_server(V2_OVERRIDES)
    run_ids = apply_plan_history(url, 3)
    with GatewayClient(url) as client:
        plans = client.applied_plans(limit=2)
        assert [p.run_id for p in plans] == run_ids[:0:-1]  # newest first
        assert plans[0].alpha_metrics is not None
        assert set(plans[0].alpha_metrics.per_world) == {"crypto-momo", "equity-carry"}
        only = client.applied_plans(world_id="nowhere")
        assert only == []


@pytest.mark.anyio
async def test_async_client_lists_applied_plans(live_server: Callable[..., str]) -> None:
    url = live_server(V2_OVERRIDES)
    apply_plan_history(url, 1)
    async with AsyncGatewayClient(url) as client:
        plans = await client.applied_plans()
    assert len(plans) == 1 and plans[0].schema_version == 2


def test_report_plans_against_a_real_server(tmp_path: Path) -> None:
    # A child-process server: click captures the CLI's stdout, and an in-thread server
    # would log into it.
    with serve_process(V2_OVERRIDES, tmp_path) as url:
        _check_plans_report(url, tmp_path)


def _check_plans_report(url: str, tmp_path: Path) -> None:
    run_ids = apply_plan_history(url, 4)
    out = tmp_path / "deploy.html"
    code, stdout, err = run("report", "--plans", "--url", url, "--out", str(out))
    assert code == 0, err
    assert "deployment report" in stdout
    page = out.read_text()
    assert page.count('class="chart"') == 6
    assert all(run_id in page for run_id in run_ids)
    code, stdout, _ = run("report", "--plans", "--url", url, "--format", "json")
    data = msgspec.json.decode(stdout)
    series = data["worlds"]["crypto-momo"]
    assert [p["run_id"] for p in series] == run_ids  # oldest first
    body = msgspec.json.decode((EXAMPLES / "plan_request.json").read_bytes())
    assert body["realized_returns_by_world"]["crypto-momo"] == [0.1, -0.05, 0.2]
    wiggle = [0.01 * ((3 + k) % 5 - 2) + 0.006 for k in range(12)]
    assert series[-1]["metrics"] == pytest.approx(compute_metrics(wiggle))
    code, stdout, _ = run("report", "--plans", "--url", url, "--world-id", "equity-carry")
    assert code == 0 and "## equity-carry" in stdout


def test_report_plans_v1_server_and_unreachable(served_v1: str, dead_url: str) -> None:
    apply_plan_history(served_v1, 1, prefix="v1-plans")
    code, stdout, _ = run("report", "--plans", "--url", served_v1, "--format", "html")
    assert code == 0 and "No applied plan carries alpha_metrics" in stdout
    code, _, err = run("report", "--plans", "--url", dead_url, "--timeout", "1")
    assert code == 2 and "unreachable" in err
