"""``worldgate risk ...``, ``worldgate execute --preview`` and ``worldgate submit`` against a
server in a child process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner

from app.cli import cli
from tests.sdk.conftest import serve_process

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
POSITIONS = str(EXAMPLES / "positions.json")
TARGET = "core=0.25,alpha=0.75"


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One server for the module; each test restores the states it changes."""
    with serve_process({}, tmp_path_factory.mktemp("risk")) as served:
        yield served


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_halt_status_history_resume(url: str) -> None:
    code, out, _ = run("risk", "halt", "--url", url, "--world", "w-cli", "--reason", "drill 1")
    assert code == 0, out
    assert out.startswith("world w-cli: HALTED (etag ") and "actor anonymous" in out
    code, out, _ = run("risk", "status", "--url", url, "--json")
    assert code == 0
    state = msgspec.json.decode(out)
    assert state["worlds"]["w-cli"]["state"] == "HALTED"
    code, out, _ = run("risk", "status", "--url", url)
    assert code == 0 and "w-cli" in out and "HALTED" in out and "(global)" in out
    stale = state["worlds"]["w-cli"]["etag"]
    assert run("risk", "reduce", "--url", url, "--world", "w-cli", "--reason", "step",
               "--if-match", stale)[0] == 0
    code, _, err = run("risk", "resume", "--url", url, "--world", "w-cli", "--reason", "x",
                       "--if-match", stale)
    assert code == 1 and "E_PRECONDITION_FAILED" in err
    assert run("risk", "resume", "--url", url, "--world", "w-cli", "--reason", "over")[0] == 0
    code, out, _ = run("risk", "history", "--url", url, "--world", "w-cli", "--json")
    changes = msgspec.json.decode(out)["changes"]
    assert [(c["previous_state"], c["state"], c["reason"]) for c in changes] == [
        ("REDUCING", "ACTIVE", "over"),
        ("HALTED", "REDUCING", "step"),
        ("ACTIVE", "HALTED", "drill 1"),
    ]
    code, out, _ = run("risk", "history", "--url", url, "--world", "w-cli")
    assert code == 0 and "drill 1" in out


def test_usage_errors_exit_2(url: str) -> None:
    assert run("risk", "halt", "--url", url)[0] == 2  # --reason is required
    assert run("risk", "history", "--url", url, "--world", "w", "--global")[0] == 2
    code, _, err = run("execute", "--url", url, "--target", TARGET, "--positions", POSITIONS,
                       "--preview", "--submit")
    assert code == 2 and "exclude" in err


def test_global_halt_drill_and_limits(url: str) -> None:
    try:
        assert run("risk", "halt", "--url", url, "--reason", "global drill")[0] == 0
        code, _, err = run("execute", "--url", url, "--target", TARGET, "--positions",
                           POSITIONS, "--submit", "--allow-live")
        assert code == 1 and "E_RISK_REJECTED" in err
        code, out, _ = run("execute", "--url", url, "--target", TARGET, "--positions",
                           POSITIONS, "--output", "table")
        assert code == 0 and "GLOBAL_HALTED" in out and "denied by the risk checks" in out
    finally:
        assert run("risk", "resume", "--url", url, "--reason", "drill over")[0] == 0
    code, out, _ = run("risk", "limits", "--url", url)
    assert code == 0 and msgspec.json.decode(out)["preview_ttl_seconds"] == 300.0


def test_preview_then_submit(url: str) -> None:
    code, out, err = run("execute", "--url", url, "--target", TARGET, "--positions", POSITIONS,
                         "--preview")
    assert code == 0, err
    preview = msgspec.json.decode(out)
    assert preview["state"] == "previewed"
    assert f"worldgate submit {preview['execution_id']}" in err
    code, _, err = run("submit", preview["execution_id"], "--url", url)
    assert code == 1 and "E_PERMISSION_DENIED" in err  # the live guard applies
    code, out, err = run("submit", preview["execution_id"], "--url", url, "--allow-live")
    assert code == 0, err
    done = msgspec.json.decode(out)
    assert done["state"] == "submitted" and done["execution_id"] == preview["execution_id"]
    code, out, _ = run("submit", preview["execution_id"], "--url", url, "--allow-live")
    assert code == 0 and msgspec.json.decode(out) == done  # replayed
    code, _, err = run("submit", "no-such-id", "--url", url, "--allow-live")
    assert code == 1 and "E_EXECUTION_NOT_FOUND" in err


def test_submit_after_a_halt_prints_the_fresh_preview(url: str) -> None:
    code, out, _ = run("execute", "--url", url, "--target", TARGET, "--positions", POSITIONS)
    preview = msgspec.json.decode(out)
    try:
        assert run("risk", "halt", "--url", url, "--world", "core", "--reason", "core")[0] == 0
        code, out, err = run("submit", preview["execution_id"], "--url", url, "--allow-live",
                             "--etag", preview["etag"])
        assert code == 1
        fresh = msgspec.json.decode(out)
        assert fresh["execution_id"] != preview["execution_id"]
        assert {d["code"] for d in fresh["denied"]} == {"WORLD_HALTED"}
        assert "E_PRECONDITION_FAILED" in err and fresh["execution_id"] in err
    finally:
        assert run("risk", "resume", "--url", url, "--world", "core", "--reason", "ok")[0] == 0
