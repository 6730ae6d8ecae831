"""``--schema-version`` / ``--require-schema-version``: what was asked, what came back.

A server answers with the highest version it serves up to the one asked (negotiation), so
``--schema-version 2`` against a v1 deployment gets a v1 plan. The CLI never lets that pass
silently: it warns on stderr when the answer's version is lower than asked (naming the
fields the lower version cannot carry), and ``--require-schema-version N`` turns the
shortfall into exit 1 (checked against ``/health`` before anything is applied or submitted,
and against the answer after).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import click

from app.sdk.cli_common import EXIT_FAILED
from app.sdk.wire import GatewayHealth

__all__ = ["VersionCheck", "answer_version", "version_options"]

F = TypeVar("F", bound=Callable[..., Any])

_LOST = {2: "alpha_metrics, rebalance_intent (--intent, --strategy-returns, --world-returns)",
         3: "skipped, projection, funding"}
"""What an answer below each version cannot carry, by the version that adds it."""


def version_options(fn: F) -> F:
    """Add ``--schema-version`` and ``--require-schema-version`` to a command."""
    fn = click.option(
        "--require-schema-version", type=click.IntRange(min=1), default=None, metavar="N",
        help="Exit 1 unless the answer has schema_version >= N (implies --schema-version N; "
             "checked against /health before anything is applied or submitted).")(fn)
    fn = click.option(
        "--schema-version", type=click.IntRange(min=1), default=None,
        help="Schema version to ask for (unset = no schema_version key: the Gateway's "
             "configured version). A lower answer prints a warning on stderr.")(fn)
    return fn


def answer_version(answer: object) -> int:
    """The schema version of a plan (``schema_version``) or execute answer
    (``rebalance_schema_version``); 1 when it says none."""
    if isinstance(answer, Mapping):
        for key in ("schema_version", "rebalance_schema_version"):
            value = answer.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
    return 1


class VersionCheck:
    """The version options of one command and their checks.

    Args:
        asked: the version to ask for (None: send no ``schema_version``).
        required: the lowest acceptable answer version, if any.
    """

    def __init__(self, asked: int | None, required: int | None) -> None:
        self.asked = asked
        self.required = required

    @classmethod
    def of(cls, options: Mapping[str, Any]) -> VersionCheck:
        """From the parsed options (``--require-schema-version`` implies the ask)."""
        required = options.get("require_schema_version")
        asked = options.get("schema_version")
        if asked is None:
            asked = required
        elif required is not None and asked < required:
            raise click.BadParameter(
                f"asks for {asked}, below --require-schema-version {required}",
                param_hint="--schema-version")
        return cls(asked, required)

    def before(self, health: GatewayHealth) -> None:
        """Refuse (exit 1) when the Gateway cannot answer at the required version."""
        if self.required is None:
            return
        offered = health.rebalance_schema_version
        ws_max = health.worldservice_max_schema_version
        if ws_max is not None:
            offered = min(offered, ws_max)
        if offered < self.required:
            click.echo(f"error: the Gateway serves schema_version {offered} at most "
                       f"(GET /health), --require-schema-version is {self.required}; "
                       "nothing was sent", err=True)
            raise SystemExit(EXIT_FAILED)

    def after(self, answer: object) -> None:
        """Warn when the answer is below the ask; exit 1 when below the requirement."""
        got = answer_version(answer)
        if self.asked is not None and got < self.asked:
            lost = [text for version, text in _LOST.items() if got < version <= self.asked]
            note = f"; it carries no {', '.join(lost)}" if lost else ""
            click.echo(f"warning: asked for schema_version {self.asked}, the server answered "
                       f"with schema_version {got}{note}", err=True)
        if self.required is not None and got < self.required:
            click.echo(f"error: the answer has schema_version {got}, "
                       f"--require-schema-version is {self.required}", err=True)
            raise SystemExit(EXIT_FAILED)
