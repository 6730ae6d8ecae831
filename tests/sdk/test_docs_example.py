"""Every example of the SDK guide is a file that runs as written against live servers."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.sdk.conftest import serve_process
from tests.web.keys_support import ROOT_SECRET, root_settings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples"


def _run(name: str, *args: str) -> str:
    done = subprocess.run([sys.executable, str(EXAMPLES / name), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": str(ROOT)}, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_every_python_block_of_the_guide_is_a_tested_file() -> None:
    text = (ROOT / "docs" / "sdk.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks
    included = []
    for block in blocks:
        match = re.fullmatch(r'--8<-- "docs/examples/(\w+\.py)"\n', block)
        assert match, f"sdk.md has an inline example instead of a docs/examples file: {block}"
        included.append(match.group(1))
    tested = re.findall(r'_run\("(\w+\.py)"', Path(__file__).read_text())
    assert set(included) <= set(tested)


def test_example_uses_v2_on_a_v2_gateway(served_v2: str) -> None:
    out = _run("sdk_runner.py", served_v2)
    assert "using v2" in out and "trend@core sharpe per period:" in out
    assert "core: BTC -" in out


def test_example_falls_back_to_v1(served_v1: str) -> None:
    out = _run("sdk_runner.py", served_v1)
    assert "using v1" in out and "sharpe" not in out


def test_client_example(served_v1: str) -> None:
    out = _run("sdk_client.py", served_v1).splitlines()
    assert out[0] == "gateway v1, status ok"
    assert out[1].startswith("plan v1: core scale ")
    assert out[2:] == ["applied True", "orders for ['alpha', 'core']",
                       "refused: 422 E_VALIDATION"]


def test_events_example(served_v2: str) -> None:
    out = _run("sdk_events.py", served_v2).splitlines()
    assert out[0].startswith("got rebalancing_planned for docs-")
    assert out[1].startswith("resumed: docs-") and out[1].endswith("-2")
    followed = [line for line in out if line.startswith("followed: ")]
    assert len(followed) == 2 and "-1 (seq " in followed[0] and "-2 (seq " in followed[1]


def test_notebook_example(served_v2: str, served_v1: str) -> None:
    out = _run("sdk_notebook.py", served_v2).splitlines()
    assert out[0] == "schema_version 2"
    assert any(line.startswith("per_world core BTC -") for line in out)
    assert any(line.startswith("trend@core sharpe ") for line in out)
    v1 = _run("sdk_notebook.py", served_v1).splitlines()
    assert v1[0] == "schema_version 1" and not [line for line in v1 if "sharpe" in line]


def test_records_example(served_v1: str) -> None:
    _run("sdk_client.py", served_v1)  # at least one applied plan
    out = _run("sdk_records.py", served_v1).splitlines()
    assert out[0].startswith("newest plan docs-")
    assert out[1].startswith("plans in all: ")


def test_keys_example(tmp_path_factory: pytest.TempPathFactory) -> None:
    with serve_process(root_settings(), tmp_path_factory.mktemp("keys")) as url:
        out = _run("sdk_keys.py", url, ROOT_SECRET).splitlines()
    assert out[0].startswith("created notebook-") and out[0].endswith(" with read, plan")
    assert out[1:5] == ["planned v1", "apply refused: needs apply", "now revoked",
                        "refused: E_UNAUTHORIZED"]
    assert out[5] == "listed: True, state revoked"
    audit = [line for line in out if line.startswith("audit: ")]
    assert audit == ["audit: POST /rebalancing/apply 403 denied",
                     "audit: POST /rebalancing/plan 401 denied"]
    assert out[-1].startswith("key creations on the first page: ")


def test_report_example(tmp_path: Path) -> None:
    out = _run("sdk_report.py", str(tmp_path)).splitlines()
    assert out[0].startswith("sharpe ") and out[1].startswith("backtest over ")
    assert (tmp_path / "report.html").exists() and (tmp_path / "backtest.md").exists()


def test_risk_example(served_v1: str) -> None:
    out = _run("sdk_risk.py", served_v1).splitlines()
    assert out[0] == "preview previewed completed, denied 0"
    assert out[1] == "submitted True"
    assert out[2] == "HALTED: rejected, WORLD_HALTED"
    assert out[3] == "now ACTIVE"
    assert out[4] == "history: ['ACTIVE', 'HALTED']"
    assert out[5] == "stored: submitted"
