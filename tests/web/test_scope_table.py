"""The scope table of docs/security.md is the one the routes produce (it cannot drift)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from click.testing import CliRunner
from litestar.testing import TestClient

from app.cli import cli
from app.web.scope_table import TABLE_END, TABLE_START, scope_table

PAGE = Path(__file__).resolve().parents[2] / "docs" / "security.md"


def test_the_security_page_lists_every_route_with_its_scope(client: TestClient[Any]) -> None:
    page = PAGE.read_text()
    start, end = page.index(TABLE_START), page.index(TABLE_END) + len(TABLE_END)
    expected = scope_table(client.app)
    assert page[start:end] == expected, (
        "docs/security.md is out of date; replace its table with:\n" + expected
    )


def test_worldgate_scopes_prints_the_routes_of_the_configured_roles(tmp_path: Path) -> None:
    both = CliRunner().invoke(cli, ["scopes", "--markdown"], env={"WORLDGATE_CONFIG": ""})
    assert both.exit_code == 0, both.output
    assert TABLE_START in both.output and "| PUT | `/risk/state` | `risk` |" in both.output
    config = tmp_path / "worldservice.toml"
    config.write_text('[server]\nroles = ["worldservice"]\n')
    alone = CliRunner().invoke(cli, ["scopes", "--config", str(config)])
    assert alone.exit_code == 0, alone.output
    assert "POST   /worldservice/rebalancing/apply" in alone.output
    assert "/risk/state" not in alone.output and "GET    /audit" in alone.output
