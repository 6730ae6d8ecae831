"""The ``worldgate`` group registers every SDK command, each with working ``--help``."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from app.cli import cli

SDK_COMMANDS = ("health", "plan", "apply", "execute", "report", "backtest", "rehearse",
                "rollout")


def test_group_lists_every_command() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in ("serve", *SDK_COMMANDS):
        assert f"  {name} " in result.output


@pytest.mark.parametrize("name", SDK_COMMANDS)
def test_command_help(name: str) -> None:
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0
    assert f"Usage: cli {name}" in result.output or f"Usage: worldgate {name}" in result.output


def test_unknown_option_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["backtest", "--prices", "x.csv"])
    assert result.exit_code == 2
    assert "Missing option '--out'" in result.output
