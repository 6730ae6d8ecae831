"""The dry run of a schema rollout: Gateway health → Runner → ``/rebalancing/plan`` at the
target version (v2, or v3 with the sample policy), with artifacts."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from app.contracts.rebalancing import RebalanceRequest
from app.metrics.alpha import METRIC_KEYS
from app.sdk.checks import Check, health_problems, v2_plan_problems, v3_plan_problems
from app.sdk.client import GatewayClient
from app.sdk.errors import SdkError, Unreachable
from app.sdk.runner import Runner
from app.sdk.samples import sample_policy, sample_request, sample_returns, sample_world_returns
from app.sdk.wire import parse_health

__all__ = ["Rehearsal", "rehearse"]


class Rehearsal(msgspec.Struct, kw_only=True):
    """The outcome: every step's row, the first failure's reason, and an exit code."""

    steps: list[Check] = msgspec.field(default_factory=list)
    reason: str | None = None
    unreachable: bool = False

    @property
    def ok(self) -> bool:
        """True when every step met the target version."""
        return self.reason is None

    @property
    def exit_code(self) -> int:
        """0 ok, 1 a step fell short of the target, 2 the Gateway was unreachable."""
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


def _policy_md(plan: Mapping[str, Any]) -> list[str]:
    """The v3 sections of the report: skipped deltas and the projection."""
    lines: list[str] = []
    skipped = plan.get("skipped") or []
    if skipped:
        lines += ["", "## Skipped deltas (not traded)", "",
                  "| world | symbol | delta_qty | code | detail |", "|---|---|---:|---|---|"]
        lines += [f"| {s.get('world_id')} | {s.get('symbol')} | {s.get('delta_qty'):.10g} | "
                  f"{s.get('code')} | {s.get('detail')} |" for s in skipped]
    projection = plan.get("projection") or {}
    if projection.get("per_world"):
        lines += ["", "## Projection", "",
                  "| world | weight before | weight after | target | residual | turnover | "
                  "est. cost |", "|---|---:|---:|---:|---:|---:|---:|"]
        for world, p in sorted(projection["per_world"].items()):
            lines.append(f"| {world} | {p['weight_before']:.6f} | {p['weight_after']:.6f} | "
                         f"{p['target']:.6f} | {p['residual']:.6f} | "
                         f"{p['turnover_notional']:.2f} | {p['est_cost']:.2f} |")
        total = projection.get("total") or {}
        lines += ["", f"Total turnover {total.get('turnover_notional', 0.0):.2f} "
                  f"({total.get('turnover_weight', 0.0):.6f} of equity), estimated cost "
                  f"{total.get('est_cost', 0.0):.2f} ({total.get('est_cost_bps', 0.0):.2f} bps)."]
    return lines


def _report_md(result: Rehearsal, url: str, plan: Mapping[str, Any] | None,
               target: int) -> str:
    lines = [f"# Worldgate v{target} rehearsal against {url}", "",
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
    lines += _policy_md(plan or {})
    return "\n".join(lines) + "\n"


def rehearse(
    url: str,
    out_dir: str | Path,
    *,
    token: str | None = None,
    timeout: float = 10.0,
    request: RebalanceRequest | None = None,
    returns_by_strategy: Mapping[str, Mapping[str, Sequence[float]]] | None = None,
    target_version: int = 2,
) -> Rehearsal:
    """Run the dry run and write ``health.json``, ``request.json``, ``plan.json``,
    ``report.md`` and ``rehearse.log`` to ``out_dir``.

    Args:
        url: the Gateway root.
        out_dir: the artifacts folder (created).
        token: bearer token, when required.
        timeout: seconds per HTTP call.
        request: the base request (a built-in two-world sample when None; with v3 the
            sample also carries the sample policy).
        returns_by_strategy: realized returns to attach (the sample's when None).
        target_version: the schema version being rehearsed (2 or 3).

    Returns:
        The outcome; stops at the first step that falls short of the target.
    """
    target = target_version
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    log = _Log(out / "rehearse.log")
    result = Rehearsal()
    plan: Mapping[str, Any] | None = None
    log("rehearse_started", url=url, target_version=target)

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
            if not step("gateway health",
                        health_problems(parse_health(raw_health), target, True),
                        f"rebalance_schema_version={caps.advertised_schema_version}, "
                        f"alpha_metrics_capable={caps.advertised_alpha_metrics}"):
                return _finish(result, out, url, plan, log, target)
            if not step(f"runner negotiates v{target}",
                        [] if caps.schema_version >= target else
                        [f"runner chose schema_version={caps.schema_version}"],
                        f"runner will send schema_version={caps.schema_version} with realized "
                        "returns"):
                return _finish(result, out, url, plan, log, target)
            base = request or sample_request()
            returns = returns_by_strategy if returns_by_strategy is not None else sample_returns()
            by_world = sample_world_returns() if request is None else None
            shaped = runner.build_request(
                base, returns_by_strategy=returns, returns_by_world=by_world,
                intent={"rehearsal_id": str(uuid.uuid4()), "source": "worldgate rehearse"},
                policy=sample_policy() if target >= 3 and request is None else None,
            )
            shaped = msgspec.structs.replace(shaped, schema_version=target)
            (out / "request.json").write_bytes(_pretty(shaped))
            raw_plan = client.plan_raw(shaped)
            (out / "plan.json").write_bytes(_pretty(raw_plan))
            plan = raw_plan if isinstance(raw_plan, Mapping) else None
            check = v3_plan_problems if target >= 3 else v2_plan_problems
            step(f"v{target} plan through the gateway", check(raw_plan, shaped),
                 f"schema_version={target} for {len(shaped.world_alloc_after)} world(s), "
                 "metrics equal the SDK's, intent echoed"
                 + (", skipped and projection present" if target >= 3 else ""))
        except Unreachable as exc:
            result.unreachable = True
            step("gateway reachable", [str(exc)], "")
        except SdkError as exc:
            step("gateway call", [str(exc)], "")
    return _finish(result, out, url, plan, log, target)


def _finish(result: Rehearsal, out: Path, url: str, plan: Mapping[str, Any] | None,
            log: _Log, target: int) -> Rehearsal:
    (out / "report.md").write_text(_report_md(result, url, plan, target), encoding="utf-8")
    log("rehearse_finished", ok=result.ok, reason=result.reason)
    return result
