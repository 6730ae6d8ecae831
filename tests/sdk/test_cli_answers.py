"""What the CLI prints around an answer: pure JSON, version warnings, ids, flag hints."""

from __future__ import annotations

import uuid
from pathlib import Path

import msgspec
import pytest

from app.sdk.client import GatewayClient
from tests.sdk.conftest import serve_process
from tests.sdk.test_cli_gateway import POSITIONS, TARGET, run
from tests.web.keys_support import ROOT_SECRET, root_settings

BASE = ("--target", TARGET, "--positions", POSITIONS)


@pytest.mark.parametrize("expect", ["1", "2"])
def test_health_json_is_pure_json_on_stdout(served_v1: str, expect: str) -> None:
    code, out, err = run("health", "--url", served_v1, "--json", "--expect-schema-version",
                         expect)
    assert msgspec.json.decode(out)["rebalance_schema_version"] == 1  # the whole of stdout
    if expect == "1":
        assert code == 0 and err.startswith("ok: ")
    else:
        assert code == 1 and err.startswith("not met: ")


def test_a_lower_answer_than_asked_warns_on_stderr(served_v1: str) -> None:
    code, out, err = run("plan", "--url", served_v1, *BASE, "--schema-version", "2",
                         "--intent", "ticket=OPS-7")
    assert code == 0
    assert msgspec.json.decode(out)["schema_version"] == 1
    assert "warning: asked for schema_version 2, the server answered with schema_version 1" \
        in err
    assert "rebalance_intent (--intent" in err


def test_no_warning_when_the_answer_matches(served_v2: str) -> None:
    code, _, err = run("plan", "--url", served_v2, *BASE, "--schema-version", "2")
    assert code == 0 and err == ""


def test_require_schema_version_fails_the_plan(served_v1: str) -> None:
    code, out, err = run("plan", "--url", served_v1, *BASE, "--require-schema-version", "2")
    assert code == 1
    assert out == ""  # refused from /health: nothing was asked
    assert "--require-schema-version is 2" in err and "nothing was sent" in err


def test_require_schema_version_never_applies_below_it(served_v1: str) -> None:
    run_id = f"req-{uuid.uuid4().hex}"
    code, _, err = run("apply", "--url", served_v1, *BASE, "--run-id", run_id,
                       "--require-schema-version", "2")
    assert code == 1 and "nothing was sent" in err
    with GatewayClient(served_v1) as client:
        assert run_id not in {p["run_id"] for p in client.iter_plans()}


def test_require_schema_version_checks_the_answer_too(tmp_path: Path) -> None:
    # The Gateway advertises v2, its WorldService serves v1 (and /health does not say so
    # when the Gateway is told nothing about it): the answer itself is checked.
    overrides = {"gateway": {"rebalance_schema_version": 2, "alpha_metrics_capable": True}}
    with serve_process(overrides, tmp_path) as url:
        code, out, err = run("plan", "--url", url, *BASE, "--require-schema-version", "2")
    assert code == 1
    assert "schema_version 1" in err


def test_require_below_ask_is_a_usage_error(served_v2: str) -> None:
    code, _, err = run("plan", "--url", served_v2, *BASE, "--schema-version", "1",
                       "--require-schema-version", "2")
    assert code == 2 and "--schema-version" in err


def test_apply_table_shows_the_run_id(served_v2: str) -> None:
    run_id = f"tbl-{uuid.uuid4().hex[:12]}"
    code, out, err = run("apply", "--url", served_v2, *BASE, "--run-id", run_id,
                         "--output", "table")
    assert code == 0, err
    assert f"run_id={run_id}" in out


def test_execute_submit_table_shows_the_execution_id(served_v1: str) -> None:
    code, out, err = run("execute", "--url", served_v1, *BASE, "--submit", "--allow-live",
                         "--output", "table")
    assert code == 0, err
    ids = [line for line in out.splitlines() if line.startswith("execution_id=")]
    assert len(ids) == 1
    execution_id = ids[0].split("=", 1)[1].strip()
    with GatewayClient(served_v1) as client:
        assert client.get_execution_raw(execution_id)["execution_id"] == execution_id
    assert "batches" in out


def test_live_guard_refusal_names_the_flag(served_v1: str) -> None:
    code, _, err = run("execute", "--url", served_v1, *BASE, "--submit")
    assert code == 1 and "E_PERMISSION_DENIED" in err
    assert "hint: submitting live orders needs --allow-live" in err


def test_missing_token_names_the_flag(tmp_path: Path) -> None:
    with serve_process({"security": {"api_tokens": ["sesame"]}}, tmp_path) as url:
        code, _, err = run("apply", "--url", url, *BASE)
        assert code == 1 and "401" in err
        assert "hint: the server requires a bearer token: pass it with --token" in err
        code, _, err = run("apply", "--url", url, *BASE, "--token", "sesame")
        assert code == 0, err


def test_missing_scope_names_it(tmp_path: Path) -> None:
    with serve_process(root_settings(), tmp_path) as url:
        with GatewayClient(url, token=ROOT_SECRET) as admin:
            planner = admin.create_key("planner", ["plan"]).secret
        code, _, err = run("apply", "--url", url, *BASE, "--token", planner)
        assert code == 1 and "E_FORBIDDEN_SCOPE" in err
        assert "hint: the key passed with --token lacks the scope apply" in err
