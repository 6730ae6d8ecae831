"""``worldgate plans`` and ``worldgate executions``: list a page, follow cursors, show one."""

from __future__ import annotations

from collections.abc import Iterator

import msgspec
import pytest
from click.testing import CliRunner

from app.cli import cli
from app.sdk.client import GatewayClient
from tests.sdk.conftest import serve_process
from tests.sdk.test_cli_gateway import POSITIONS, TARGET, run


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[str]]]:
    """A server with five applied plans and three submitted executions."""
    with serve_process({}, tmp_path_factory.mktemp("history")) as url:
        for i in range(5):
            code, _, err = run("apply", "--url", url, "--target", TARGET, "--positions",
                               POSITIONS, "--run-id", f"hist-{i}")
            assert code == 0, err
        executions = []
        for _ in range(3):
            code, out, err = run("execute", "--url", url, "--target", TARGET, "--positions",
                                 POSITIONS, "--submit", "--allow-live")
            assert code == 0, err
            executions.append(msgspec.json.decode(out)["execution_id"])
        yield url, executions


def test_plans_list_pages_and_all(history: tuple[str, list[str]]) -> None:
    url, _ = history
    code, out, _ = run("plans", "list", "--url", url, "--limit", "2")
    first = msgspec.json.decode(out)
    assert code == 0 and [p["run_id"] for p in first["plans"]] == ["hist-4", "hist-3"]
    code, out, _ = run("plans", "list", "--url", url, "--limit", "2", "--cursor", first["next"])
    assert [p["run_id"] for p in msgspec.json.decode(out)["plans"]] == ["hist-2", "hist-1"]
    code, out, _ = run("plans", "list", "--url", url, "--all", "--limit", "2")
    every = msgspec.json.decode(out)
    assert [p["run_id"] for p in every["plans"]] == [f"hist-{i}" for i in (4, 3, 2, 1, 0)]
    assert every["next"] is None
    code, out, _ = run("plans", "list", "--url", url, "--world", "core", "--output", "table",
                       "--limit", "1")
    assert code == 0 and "hist-4" in out and "--cursor" in out


def test_plans_without_subcommand_lists_from_the_environment(
        history: tuple[str, list[str]]) -> None:
    url, _ = history
    result = CliRunner().invoke(cli, ["plans"], env={"WORLDGATE_URL": url})
    assert result.exit_code == 0, result.stderr
    assert len(msgspec.json.decode(result.stdout)["plans"]) == 5


def test_plans_show(history: tuple[str, list[str]]) -> None:
    url, _ = history
    code, out, _ = run("plans", "show", "hist-2", "--url", url)
    shown = msgspec.json.decode(out)
    assert code == 0 and shown["run_id"] == "hist-2" and shown["response"]["per_world"]
    code, out, _ = run("plans", "show", "hist-2", "--url", url, "--output", "table")
    assert code == 0 and "run_id=hist-2" in out and "BTCUSDT" in out
    code, _, err = run("plans", "show", "nope", "--url", url)
    assert code == 1 and "E_PLAN_NOT_FOUND" in err


def test_a_broken_cursor_is_refused(history: tuple[str, list[str]]) -> None:
    url, _ = history
    code, _, err = run("plans", "list", "--url", url, "--cursor", "garbage")
    assert code == 1 and "E_VALIDATION" in err and "$.cursor" in err


def test_executions_list_and_show(history: tuple[str, list[str]]) -> None:
    url, ids = history
    code, out, _ = run("executions", "list", "--url", url, "--limit", "2")
    page = msgspec.json.decode(out)
    assert [e["execution_id"] for e in page["executions"]] == ids[::-1][:2]
    code, out, _ = run("executions", "list", "--url", url, "--all", "--world", "core")
    assert [e["execution_id"] for e in msgspec.json.decode(out)["executions"]] == ids[::-1]
    code, out, _ = run("executions", "list", "--url", url, "--output", "table")
    assert code == 0 and all(i[:8] in out for i in ids)
    code, out, _ = run("executions", "show", ids[0], "--url", url)
    assert msgspec.json.decode(out)["execution_id"] == ids[0]
    code, out, _ = run("executions", "show", ids[0], "--url", url, "--output", "table")
    assert f"execution_id={ids[0]}" in out
    code, _, err = run("executions", "show", "missing", "--url", url)
    assert code == 1 and "E_EXECUTION_NOT_FOUND" in err


def test_sdk_iterates_every_page(history: tuple[str, list[str]]) -> None:
    url, ids = history
    with GatewayClient(url) as client:
        assert len(list(client.iter_plans(page_size=2))) == 5
        assert [e["execution_id"] for e in client.iter_executions(page_size=1)] == ids[::-1]
