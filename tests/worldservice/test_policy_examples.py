"""The worked examples of the "Rebalancing policy" page run against a real v3 deployment.

Each ``docs/examples/policy/<rule>.request.json`` is posted to the Gateway; the answer,
without the v2 sections the page leaves out (``alpha_metrics``, ``rebalance_intent``), must
be exactly ``<rule>.answer.json``, the file the page shows. ``python -m
tests.worldservice.test_policy_examples --write`` re-records the answers.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from app.main import create_app
from app.settings import load_settings

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples" / "policy"
V3 = {
    "worldservice": {"server": {"compat_rebalance_v2": True, "compat_rebalance_v3": True}},
    "gateway": {"rebalance_schema_version": 3, "alpha_metrics_capable": True},
}
NAMES = sorted(p.name.removesuffix(".request.json") for p in EXAMPLES.glob("*.request.json"))


def shown(client: TestClient[Any], name: str) -> dict[str, Any]:
    """The answer to one example as the page shows it."""
    body = (EXAMPLES / f"{name}.request.json").read_bytes()
    answer = client.post("/rebalancing/plan", content=body,
                         headers={"content-type": "application/json"})
    assert answer.status_code == 200, answer.text
    out: dict[str, Any] = answer.json()
    out.pop("alpha_metrics")
    out.pop("rebalance_intent")
    return out


def test_there_is_an_example_for_each_rule() -> None:
    assert NAMES == ["band", "cash", "costs", "rounding", "turnover"]


@pytest.mark.parametrize("name", NAMES)
def test_worked_example(make_client: Callable[..., TestClient[Any]], name: str) -> None:
    want = msgspec.json.decode((EXAMPLES / f"{name}.answer.json").read_bytes())
    assert shown(make_client(V3), name) == want


def main(argv: list[str]) -> int:
    """``--write``: record every example's answer file."""
    if "--write" not in argv:
        print("usage: python -m tests.worldservice.test_policy_examples --write")
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(environ={}, overrides={
            **V3, "store": {"sqlite_path": f"{tmp}/examples.sqlite3"}})
        with TestClient(create_app(settings)) as client:
            for name in NAMES:
                text = msgspec.json.format(msgspec.json.encode(shown(client, name)), indent=2)
                (EXAMPLES / f"{name}.answer.json").write_bytes(text + b"\n")
                print(f"wrote {name}.answer.json")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
