"""The v2 dry run: Gateway health → Runner → ``/rebalancing/plan`` v2, with artifacts."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from app.contracts.rebalancing import RebalanceRequest
from app.metrics.alpha import METRIC_KEYS
from app.sdk.checks import Check, health_problems, v2_plan_problems
from app.sdk.client import GatewayClient
from app.sdk.errors import SdkError, Unreachable
from app.sdk.runner import Runner
from app.sdk.samples import sample_request, sample_returns, sample_world_returns
from app.sdk.wire import parse_health

__all__ = ["Rehearsal", "rehearse"]


class Rehearsal(msgspec.Struct, kw_only=True):
    """The outcome: every step's row, the first failure's reason, and an exit code."""

    steps: list[Check] = msgspec.field(default_factory=list)
    reason: str | None = None
    unreachable: bool = False

    @property
    def ok(self) -> bool:
        """True when every step met v2."""
        return self.reason is None

    @property
    def exit_code(self) -> int:
        """0 ok, 1 a step fell short of v2, 2 the Gateway was unreachable."""
        return 0 if self.ok else (2 if self.unreachable else 1)


def _pretty(obj: Any) -> bytes:
    return msgspec.json.format(msgspec.json.encode(obj), indent=2) + b"\n"


class _Log:
    """``rehearse.log``: one timestamped ``event key=value`` line per step."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines: list[str] = []

    def __call__(self, event: str, **fields: object) -> None:
        kv = " ".join(f"{k}={v!r}" for k, v in fields.items())
        self.lines.append(f"{datetime.now(UTC).isoformat()} {event} {kv}".rstrip())
        self.path.write_text("\n".join(self.lines) + "\n", encoding="utf-8")


def _report_md(result: Rehearsal, url: str, plan: Mapping[str, Any] | None) -> str:
    lines = [f"# Worldgate v2 rehearsal against {url}", "",
             f"Result: **{'PASS' if result.ok else 'FAIL'}**"
             + (f" — {result.reason}" if result.reason else ""), "",
             "| step | ok | evidence |", "|---|---|---|"]
    lines += [f"| {s.name} | {'✅' if s.ok else '❌'} | {s.evidence} |" for s in result.steps]
    metrics = (plan or {}).get("alpha_metrics") or {}
    head = " | ".join(k.split(".")[1] for k in METRIC_KEYS)
    rule = "---:|" * len(METRIC_KEYS)

    def cells(m: Mapping[str, Any]) -> str:
        return " | ".join(f"{float(m.get(k, 0.0)):.6f}" for k in METRIC_KEYS)

    if metrics.get("per_world"):
        lines += ["", "## alpha_performance per world (per period)", "",
                  f"| world | {head} |", f"|---|{rule}"]
        lines += [f"| {w} | {cells(m)} |" for w, m in sorted(metrics["per_world"].items())]
    if metrics.get("per_strategy"):
        lines += ["", "## alpha_performance per strategy (per period)", "",
                  f"| strategy | world | {head} |", f"|---|---|{rule}"]
        for strategy, worlds in sorted(metrics["per_strategy"].items()):
            lines += [f"| {strategy} | {w} | {cells(m)} |" for w, m in sorted(worlds.items())]
    return "\n".join(lines) + "\n"


def rehearse(
    url: str,
    out_dir: str | Path,
    *,
    token: str | None = None,
    timeout: float = 10.0,
    request: RebalanceRequest | None = None,
    returns_by_strategy: Mapping[str, Mapping[str, Sequence[float]]] | None = None,
) -> Rehearsal:
    """Run the dry run and write ``health.json``, ``request.json``, ``plan.json``,
    ``report.md`` and ``rehearse.log`` to ``out_dir``.

    Args:
        url: the Gateway root.
        out_dir: the artifacts folder (created).
        token: bearer token, when required.
        timeout: seconds per HTTP call.
        request: the base request (a built-in two-world sample when None).
        returns_by_strategy: realized returns to attach (the sample's when None).

    Returns:
        The outcome; stops at the first step that falls short of v2.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    log = _Log(out / "rehearse.log")
    result = Rehearsal()
    plan: Mapping[str, Any] | None = None
    log("rehearse_started", url=url)

    def step(name: str, problems: list[str], evidence: str) -> bool:
        ok = not problems
        result.steps.append(Check(name=name, ok=ok, evidence=evidence if ok else
                                  "; ".join(problems)))
        log("step", name=name, ok=ok, evidence=result.steps[-1].evidence)
        if not ok and result.reason is None:
            result.reason = f"{name}: {'; '.join(problems)}"
        return ok

    with GatewayClient(url, token=token, timeout=timeout) as client:
        try:
            raw_health = client.health_raw()
            (out / "health.json").write_bytes(_pretty(raw_health))
            runner = Runner(client, refresh_interval=float("inf"))
            caps = runner.start()
            if not step("gateway health", health_problems(parse_health(raw_health), 2, True),
                        f"rebalance_schema_version={caps.advertised_schema_version}, "
                        f"alpha_metrics_capable={caps.advertised_alpha_metrics}"):
                return _finish(result, out, url, plan, log)
            if not step("runner negotiates v2",
                        [] if caps.schema_version == 2 else
                        [f"runner chose schema_version={caps.schema_version}"],
                        "runner will send schema_version=2 with realized returns"):
                return _finish(result, out, url, plan, log)
            base = request or sample_request()
            returns = returns_by_strategy if returns_by_strategy is not None else sample_returns()
            by_world = sample_world_returns() if request is None else None
            shaped = runner.build_request(
                base, returns_by_strategy=returns, returns_by_world=by_world,
                intent={"rehearsal_id": str(uuid.uuid4()), "source": "worldgate rehearse"},
            )
            (out / "request.json").write_bytes(_pretty(shaped))
            raw_plan = client.plan_raw(shaped)
            (out / "plan.json").write_bytes(_pretty(raw_plan))
            plan = raw_plan if isinstance(raw_plan, Mapping) else None
            step("v2 plan through the gateway", v2_plan_problems(raw_plan, shaped),
                 f"schema_version=2 for {len(shaped.world_alloc_after)} world(s), metrics "
                 "equal the SDK's, intent echoed")
        except Unreachable as exc:
            result.unreachable = True
            step("gateway reachable", [str(exc)], "")
        except SdkError as exc:
            step("gateway call", [str(exc)], "")
    return _finish(result, out, url, plan, log)


def _finish(result: Rehearsal, out: Path, url: str, plan: Mapping[str, Any] | None,
            log: _Log) -> Rehearsal:
    (out / "report.md").write_text(_report_md(result, url, plan), encoding="utf-8")
    log("rehearse_finished", ok=result.ok, reason=result.reason)
    return result
