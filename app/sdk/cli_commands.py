"""``worldgate`` commands that talk to a Gateway: health, plan, apply, execute."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import msgspec

from app.contracts.rebalancing import PositionSlice, RebalanceIntent, RebalanceRequest
from app.sdk.checks import health_problems
from app.sdk.cli_common import (
    EXIT_FAILED,
    EXIT_UNREACHABLE,
    cannot,
    connection_options,
    fail_sdk,
    read_option,
)
from app.sdk.cli_events import EVENT_COMMANDS
from app.sdk.cli_keys import KEY_COMMANDS
from app.sdk.cli_records import RECORD_COMMANDS
from app.sdk.cli_risk import RISK_COMMANDS
from app.sdk.cli_tables import execute_table, plan_tables
from app.sdk.cli_tools import TOOL_COMMANDS
from app.sdk.cli_versions import VersionCheck, version_options
from app.sdk.client import GatewayClient
from app.sdk.errors import SdkError, Unreachable
from app.sdk.io import InputError, parse_allocations, read_policy, read_positions, read_returns

__all__ = ["COMMANDS", "build_request", "derive_before"]


@click.command()
@connection_options
@click.option("--expect-schema-version", type=click.IntRange(min=1), default=1,
              show_default=True, help="Fail unless the Gateway advertises at least this.")
@click.option("--expect-alpha-metrics", is_flag=True,
              help="Fail unless the Gateway advertises alpha_metrics_capable.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the /health body as JSON on stdout (the verdict goes to stderr).")
def health(url: str, token: str | None, timeout: float, expect_schema_version: int,
           expect_alpha_metrics: bool, as_json: bool) -> None:
    """Check a Gateway's capability bits: exit 0 met, 1 not met (one-line reason), 2 unreachable.
    """
    with GatewayClient(url, token=token, timeout=timeout) as client:
        try:
            info = client.health()
        except Unreachable as exc:
            click.echo(f"unreachable: {exc}", err=True)
            raise SystemExit(EXIT_UNREACHABLE) from None
        except SdkError as exc:
            click.echo(f"not met: GET /health failed: {exc}", err=as_json)
            raise SystemExit(EXIT_FAILED) from None
    if as_json:  # stdout carries the JSON alone, so it can be piped into a JSON tool
        click.echo(msgspec.json.encode(info.raw).decode())
    problems = health_problems(info, expect_schema_version, expect_alpha_metrics)
    if problems:
        click.echo(f"not met: {'; '.join(problems)}", err=as_json)
        raise SystemExit(EXIT_FAILED)
    click.echo(f"ok: {url} advertises rebalance_schema_version={info.rebalance_schema_version}, "
               f"alpha_metrics_capable={str(info.alpha_metrics_capable).lower()}, "
               f"status={info.status}", err=as_json)


def derive_before(positions: list[PositionSlice], total_equity: float) -> dict[str, float]:
    """Each world's gross notional Σ|qty·mark| over ``total_equity`` (0 when it is 0)."""
    gross: dict[str, float] = defaultdict(float)
    for p in positions:
        gross[p.world_id] += abs(p.qty * p.mark)
    return {w: (g / total_equity if total_equity > 0 else 0.0) for w, g in gross.items()}


def _strategy_returns(items: tuple[str, ...]) -> dict[str, dict[str, list[float]]]:
    out: dict[str, dict[str, list[float]]] = {}
    for item in items:
        key, sep, path = item.partition("=")
        world, colon, strategy = key.partition(":")
        if not (sep and colon and world and strategy and path):
            raise InputError(f"expected WORLD:STRATEGY=FILE, got {item!r}")
        out.setdefault(world, {})[strategy] = read_returns(path)
    return out


def _world_returns(items: tuple[str, ...]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for item in items:
        world, sep, path = item.partition("=")
        if not (sep and world and path):
            raise InputError(f"expected WORLD=FILE, got {item!r}")
        out[world] = read_returns(path)
    return out


def build_request(
    *, target: str | None, before: str | None, positions: str | None,
    total_equity: float | None, schema_version: int | None, request_file: str | None,
    intent: tuple[str, ...] = (), strategy_returns: tuple[str, ...] = (),
    world_returns: tuple[str, ...] = (), policy: str | None = None,
) -> RebalanceRequest:
    """Build the request from CLI options (see ``docs/cli.md``).

    ``--request`` gives the whole body; otherwise ``--target`` and ``--positions`` are
    required, ``--total-equity`` defaults to the positions' gross notional and ``--before``
    to each world's share of it.

    Raises:
        click.BadParameter: an option is missing or malformed (exit 2).
    """
    if request_file:
        try:
            raw = msgspec.json.decode(Path(request_file).read_bytes())
            req = msgspec.convert(raw, RebalanceRequest, strict=False)
        except OSError as exc:
            cannot("read", request_file, exc, "--request")
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise click.BadParameter(f"{request_file}: {exc}", param_hint="--request") from None
    else:
        if not target or not positions:
            raise click.UsageError("give --target and --positions (or a whole --request FILE)")
        after = read_option("--target", parse_allocations, target)
        slices = read_option("--positions", read_positions, positions)
        equity = total_equity if total_equity is not None else sum(
            abs(p.qty * p.mark) for p in slices)
        before_map = (read_option("--before", parse_allocations, before) if before
                      else derive_before(slices, equity))
        for world in after:
            before_map.setdefault(world, 0.0)
        req = RebalanceRequest(total_equity=equity, world_alloc_before=before_map,
                               world_alloc_after=after, positions=slices)
    updates: dict[str, Any] = {}
    if schema_version is not None:
        updates["schema_version"] = schema_version
    if intent:
        meta = {}
        for item in intent:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise click.BadParameter(f"expected KEY=VALUE, got {item!r}",
                                         param_hint="--intent")
            meta[key] = value
        updates["rebalance_intent"] = RebalanceIntent(meta=meta)
    if strategy_returns:
        updates["realized_returns_by_strategy"] = read_option(
            "--strategy-returns", _strategy_returns, strategy_returns)
    if world_returns:
        updates["realized_returns_by_world"] = read_option(
            "--world-returns", _world_returns, world_returns)
    if policy:
        updates["policy"] = read_option("--policy", read_policy, policy)
    return msgspec.structs.replace(req, **updates) if updates else req


def _request_options(fn: Any) -> Any:
    options = [
        click.option("--output", type=click.Choice(["json", "table"]), default="json",
                     show_default=True, help="Print the answer as JSON or as tables."),
        click.option("--policy", metavar="FILE",
                     help="Rebalancing policy (.toml or .json); needs schema_version 3."),
        click.option("--world-returns", multiple=True, metavar="WORLD=FILE",
                     help="Realized returns file of one world (v2 metrics); repeatable."),
        click.option("--strategy-returns", multiple=True, metavar="WORLD:STRATEGY=FILE",
                     help="Realized returns file of one strategy (v2 metrics); repeatable."),
        click.option("--intent", multiple=True, metavar="KEY=VALUE",
                     help="rebalance_intent.meta entry (echoed in v2); repeatable."),
        click.option("--total-equity", type=click.FloatRange(min=0), default=None,
                     help="Total equity (default: gross notional of the positions)."),
        click.option("--positions", metavar="FILE", help="Positions file (.json or .csv)."),
        click.option("--before", metavar="W=F,...",
                     help="Current allocations (default: derived from the positions)."),
        click.option("--target", "-t", metavar="W=F,...",
                     help="Target allocations, e.g. w1=0.6,w2=0.4."),
        click.option("--request", "request_file", metavar="FILE",
                     help="A whole request body (JSON) instead of the options above."),
        version_options,
        connection_options,
    ]
    for option in options:
        fn = option(fn)
    return fn


def _emit(answer: Any, output: str, table: Any) -> None:
    if output == "table" and isinstance(answer, dict):
        table(answer)
    else:
        click.echo(msgspec.json.format(msgspec.json.encode(answer), indent=2).decode())


def _gather(kw: dict[str, Any], check: VersionCheck) -> RebalanceRequest:
    return build_request(
        target=kw["target"], before=kw["before"], positions=kw["positions"],
        total_equity=kw["total_equity"], schema_version=check.asked,
        request_file=kw["request_file"], intent=kw["intent"],
        strategy_returns=kw["strategy_returns"], world_returns=kw["world_returns"],
        policy=kw["policy"],
    )


def _send(kw: dict[str, Any], call: Callable[[GatewayClient, RebalanceRequest], Any],
          table: Callable[[dict[str, Any]], None]) -> None:
    """Build the request from the options, send it with ``call`` and print the answer.

    With ``--require-schema-version`` the Gateway's ``/health`` is read first, so nothing is
    applied or submitted at a lower version; the answer's version is checked afterwards.
    """
    check = VersionCheck.of(kw)
    request = _gather(kw, check)
    with GatewayClient(kw["url"], token=kw["token"], timeout=kw["timeout"]) as client:
        try:
            if check.required is not None:
                check.before(client.health())
            answer = call(client, request)
        except SdkError as exc:
            fail_sdk(exc)
    _emit(answer, kw["output"], table)
    check.after(answer)


@click.command()
@_request_options
def plan(**kw: Any) -> None:
    """Ask the Gateway for a rebalance plan (nothing is stored)."""
    _send(kw, GatewayClient.plan_raw, plan_tables)


@click.command()
@_request_options
@click.option("--run-id", default=None, help="Idempotency key: same id + same body = same plan.")
def apply(**kw: Any) -> None:
    """Apply a plan through the Gateway: stored durably and announced as events."""
    _send(kw, lambda client, request: client.apply_raw(request, run_id=kw["run_id"]),
          plan_tables)


@click.command()
@_request_options
@click.option("--submit", is_flag=True, help="Publish the orders (default: a preview).")
@click.option("--preview", is_flag=True,
              help="Store a preview to submit later with `worldgate submit` (the default).")
@click.option("--all-or-nothing", is_flag=True, help="Refuse the submit if any order is denied.")
@click.option("--shared-account", is_flag=True, help="Net orders across worlds.")
@click.option("--per-strategy", is_flag=True, help="One batch per strategy.")
@click.option("--allow-live", is_flag=True, help="Send X-Allow-Live: true (live guard).")
def execute(**kw: Any) -> None:
    """Turn a plan into risk-checked orders: a stored preview unless --submit."""
    if kw["preview"] and kw["submit"]:
        raise click.UsageError("--preview and --submit exclude each other")
    answers: list[dict[str, Any]] = []

    def call(client: GatewayClient, request: RebalanceRequest) -> dict[str, Any]:
        answer = client.execute_raw(
            request, submit=kw["submit"], shared_account=kw["shared_account"],
            per_strategy=kw["per_strategy"], allow_live=kw["allow_live"],
            all_or_nothing=kw["all_or_nothing"])
        answers.append(answer)
        return answer

    _send(kw, call, execute_table)
    answer = answers[0] if answers else {}
    if answer.get("state") == "previewed":
        click.echo(
            f"preview {answer.get('execution_id')} (status {answer.get('status')}, etag "
            f"{answer.get('etag')}) expires {answer.get('expires_at')}; submit it with "
            f"`worldgate submit {answer.get('execution_id')} --allow-live`",
            err=True,
        )


COMMANDS: tuple[click.Command, ...] = (
    health, plan, apply, execute, *RECORD_COMMANDS, *EVENT_COMMANDS, *RISK_COMMANDS,
    *KEY_COMMANDS, *TOOL_COMMANDS,
)
