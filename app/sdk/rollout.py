"""The schema v2 rollout checklist as live checks against a running deployment."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from app.contracts.events import REBALANCING_PLANNED, CloudEvent
from app.contracts.rebalancing import RebalanceIntent, RebalanceRequest
from app.errors import Code
from app.sdk.checks import V2_FIELDS, Check, health_problems, v1_plan_problems, v2_plan_problems
from app.sdk.client import GatewayClient
from app.sdk.errors import SdkError, Unreachable, WorldgateError
from app.sdk.events import EventStream
from app.sdk.samples import sample_request, sample_returns, sample_world_returns
from app.sdk.wire import GatewayHealth

__all__ = ["Rollout", "render_rollout_md", "rollout", "write_rollout"]


class Rollout(msgspec.Struct, kw_only=True):
    """The checklist outcome, ready to print or attach to a release."""

    url: str
    checked_at: str
    checks: list[Check] = msgspec.field(default_factory=list)
    unreachable: bool = False
    skipped: list[str] = msgspec.field(default_factory=list)
    """Checks not run because an earlier one failed (the run stops at the first failure)."""

    @property
    def ok(self) -> bool:
        """True when every row passed."""
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def exit_code(self) -> int:
        """0 all rows passed, 1 a row failed, 2 the Gateway was unreachable."""
        return 0 if self.ok else (2 if self.unreachable else 1)

    def to_builtins(self) -> dict[str, Any]:
        """JSON form (``rollout.json``)."""
        return {"url": self.url, "checked_at": self.checked_at, "ok": self.ok,
                "exit_code": self.exit_code,
                "checks": [msgspec.to_builtins(c) for c in self.checks],
                "skipped": list(self.skipped)}


def render_rollout_md(result: Rollout) -> str:
    """Markdown form (``rollout.md``)."""
    lines = [f"# Worldgate schema v2 rollout check — {result.url}", "",
             f"Checked at {result.checked_at}: **{'READY' if result.ok else 'NOT READY'}**", "",
             "| check | ok | evidence |", "|---|---|---|"]
    lines += [f"| {c.name} | {'✅' if c.ok else '❌'} | {c.evidence.replace('|', '/')} |"
              for c in result.checks]
    lines += [f"| {name} | ⏭ | not run: an earlier check failed |" for name in result.skipped]
    return "\n".join(lines) + "\n"


def _v2_request(base: RebalanceRequest, prefix: str, meta: dict[str, Any]) -> RebalanceRequest:
    return msgspec.structs.replace(
        base, schema_version=2, rebalance_intent=RebalanceIntent(meta=meta),
        realized_returns_by_strategy=sample_returns(prefix),
        realized_returns_by_world=sample_world_returns(prefix),
    )


def _wait_for(stream: EventStream, run_id: str, timeout: float) -> CloudEvent | None:
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            event = stream.next_event(timeout=left)
        except TimeoutError:
            return None
        if event.type == REBALANCING_PLANNED and event.data.get("run_id") == run_id:
            return event
    return None


def _leaked(data: Mapping[str, Any]) -> list[str]:
    plan = data.get("plan")
    inner = plan if isinstance(plan, Mapping) else {}
    return [f for f in V2_FIELDS if f in data] + [f"plan.{f}" for f in V2_FIELDS if f in inner]


class _Checklist:
    def __init__(self, client: GatewayClient, token: str | None, event_timeout: float) -> None:
        self.client = client
        self.token = token
        self.event_timeout = event_timeout
        self.rows: list[Check] = []

    def add(self, name: str, problems: list[str], evidence: str) -> bool:
        self.rows.append(Check(name=name, ok=not problems,
                               evidence=evidence if not problems else "; ".join(problems)))
        return not problems

    def guarded(self, name: str, fn: Callable[[], object]) -> None:
        try:
            fn()
        except Unreachable:
            raise
        except SdkError as exc:
            self.add(name, [str(exc)], "")

    def worldservice(self) -> dict[str, Any]:
        caps: dict[str, Any] = {}

        def run() -> None:
            caps.update(self.client.worldservice_capabilities())
            ws_max = caps.get("max_schema_version")
            self.add(
                "WorldService serves schema v2",
                [] if caps.get("compat_rebalance_v2") is True and isinstance(ws_max, int)
                and ws_max >= 2 else [f"worldservice capabilities: {caps}"],
                f"max_schema_version={ws_max}, compat_rebalance_v2="
                f"{caps.get('compat_rebalance_v2')}, alpha_metrics_required="
                f"{caps.get('alpha_metrics_required')}",
            )

        self.guarded("WorldService serves schema v2", run)
        return caps

    def gateway(self, health: GatewayHealth, ws_caps: Mapping[str, Any]) -> None:
        self.add("Gateway advertises v2 and alpha_metrics_capable",
                 health_problems(health, 2, True),
                 f"rebalance_schema_version={health.rebalance_schema_version}, "
                 f"alpha_metrics_capable={health.alpha_metrics_capable}, status={health.status}")
        ws_max = ws_caps.get("max_schema_version")
        problems = []
        if not isinstance(ws_max, int):
            problems.append("WorldService capabilities unknown")
        else:
            if health.rebalance_schema_version > ws_max:
                problems.append(f"gateway asks for v{health.rebalance_schema_version}, "
                                f"WorldService serves up to v{ws_max}")
            seen = health.worldservice_max_schema_version
            if seen is not None and seen != ws_max:
                problems.append(f"gateway sees worldservice_max_schema_version={seen}, "
                                f"WorldService says {ws_max}")
        self.add("Gateway agrees with WorldService", problems,
                 f"gateway v{health.rebalance_schema_version} ≤ WorldService v{ws_max}")

    def v2_plan(self, prefix: str) -> None:
        meta = {"rollout_check": prefix}
        request = _v2_request(sample_request(prefix), prefix, meta)
        name = "v2 plan round-trips with computed metrics and intent"
        self.guarded(name, lambda: self.add(
            name, v2_plan_problems(self.client.plan_raw(request), request),
            "schema_version=2, per-strategy metrics equal the SDK's, intent echoed"))

    def v1_plan(self, prefix: str, ws_caps: Mapping[str, Any]) -> None:
        """A v1 client (no ``schema_version`` key) straight to WorldService, and an explicit
        ``schema_version=1`` through the Gateway: both must get a plan with no v2 field."""
        name = "v1 request gets a clean v1 answer"
        v1 = sample_request(prefix)
        explicit = msgspec.structs.replace(v1, schema_version=1)
        problems: list[str] = []
        evidence: list[str] = []
        calls: list[tuple[str, Callable[[], object]]] = [
            ("WorldService, no schema_version", lambda: self.client.worldservice_plan_raw(v1)),
            ("Gateway, schema_version=1", lambda: self.client.plan_raw(explicit)),
        ]
        for label, call in calls:
            try:
                raw = call()
            except WorldgateError as exc:
                required = ws_caps.get("alpha_metrics_required") is True
                if required and exc.code == Code.SCHEMA_VERSION_REQUIRED:
                    evidence.append(f"{label}: refused with 400 E_SCHEMA_VERSION_REQUIRED "
                                    "(alpha_metrics_required is on)")
                else:
                    problems.append(f"{label}: {exc}")
                continue
            found = v1_plan_problems(raw)
            problems += [f"{label}: {p}" for p in found]
            evidence.append(f"{label}: schema_version=1, no alpha_metrics/rebalance_intent")
        self.add(name, problems, "; ".join(evidence))

    def events(self, prefix: str) -> None:
        run_id = f"{prefix}apply"
        meta = {"rollout_check": prefix}
        request = _v2_request(sample_request(prefix), prefix, meta)
        world = f"{prefix}core"
        v2_name = "rebalancing_planned carries v2 metadata to a v2 WebSocket client"
        v1_name = "v1 WebSocket client gets the event without v2 fields"
        try:
            with (EventStream(self.client.base_url, token=self.token, schema_version=2,
                              topics=[REBALANCING_PLANNED], world_id=world) as v2_stream,
                  EventStream(self.client.base_url, token=self.token, schema_version=1,
                              topics=[REBALANCING_PLANNED], world_id=world) as v1_stream):
                try:
                    self.client.apply_raw(request, run_id=run_id)
                except Unreachable:
                    raise
                except SdkError as exc:
                    self.add(v2_name, [f"apply failed: {exc}"], "")
                    self.add(v1_name, ["apply failed"], "")
                    return
                got2 = _wait_for(v2_stream, run_id, self.event_timeout)
                got1 = _wait_for(v1_stream, run_id, self.event_timeout)
        except SdkError as exc:
            if isinstance(exc, Unreachable) and exc.url.startswith("http"):
                raise  # the Gateway itself went away (raised by apply)
            self.add(v2_name, [f"event stream: {exc}"], "")
            self.add(v1_name, [f"event stream: {exc}"], "")
            return
        if got2 is None:
            self.add(v2_name, [f"no rebalancing_planned for {world} within "
                               f"{self.event_timeout}s"], "")
        else:
            data = got2.data
            problems = [] if data.get("schema_version") == 2 else [
                f"event schema_version={data.get('schema_version')}"]
            if "alpha_metrics" not in data:
                problems.append("event has no alpha_metrics")
            intent = data.get("rebalance_intent")
            if not isinstance(intent, Mapping) or intent.get("meta") != meta:
                problems.append(f"event intent {intent!r} != sent {meta!r}")
            self.add(v2_name, problems, f"event {got2.id} seq={got2.seq}: schema_version=2, "
                     "alpha_metrics and rebalance_intent present")
        if got1 is None:
            self.add(v1_name, [f"no rebalancing_planned for {world} within "
                               f"{self.event_timeout}s"], "")
        else:
            leaked = _leaked(got1.data)
            self.add(v1_name, [f"v1 client received {', '.join(leaked)}"] if leaked else [],
                     f"event {got1.id} seq={got1.seq}: no alpha_metrics, no rebalance_intent")


def rollout(
    url: str, *, token: str | None = None, timeout: float = 10.0, event_timeout: float = 5.0,
    worldservice_url: str | None = None,
) -> Rollout:
    """Run every rollout check against a live Gateway (and its WorldService).

    The plan and apply checks use fresh world ids (``rollout-<hex>-core`` / ``-alpha``) so
    they never touch real worlds; the applied plan is recorded like any other.

    Args:
        url: the Gateway root.
        token: bearer token, when required.
        timeout: seconds per HTTP call.
        event_timeout: seconds to wait for each WebSocket event.
        worldservice_url: WorldService root when it is not ``<url>/worldservice``.

    Returns:
        The checklist outcome.
    """
    result = Rollout(url=url, checked_at=datetime.now(UTC).isoformat(timespec="seconds"))
    prefix = f"rollout-{uuid.uuid4().hex[:8]}-"
    with GatewayClient(url, token=token, timeout=timeout,
                       worldservice_url=worldservice_url) as client:
        checklist = _Checklist(client, token, event_timeout)
        try:
            health = client.health()
            ws_caps: dict[str, Any] = {}

            def configuration() -> None:
                ws_caps.update(checklist.worldservice())
                checklist.gateway(health, ws_caps)

            # Stages in order; the run stops after the first stage with a failed row, so a
            # deployment that is not ready is never written to (only the last stage applies
            # a plan). The configuration stage is two reads, reported as its three rows.
            stages: list[tuple[str, Callable[[], object]]] = [
                ("configuration (WorldService v2, Gateway v2, agreement)", configuration),
                ("v2 plan round-trips with computed metrics and intent",
                 lambda: checklist.v2_plan(prefix)),
                ("v1 request gets a clean v1 answer", lambda: checklist.v1_plan(prefix, ws_caps)),
                ("rebalancing_planned reaches v1 and v2 WebSocket clients (applies a plan)",
                 lambda: checklist.events(prefix)),
            ]
            for index, (_, stage) in enumerate(stages):
                stage()
                if not all(row.ok for row in checklist.rows):
                    result.skipped = [name for name, _ in stages[index + 1 :]]
                    break
        except Unreachable as exc:
            result.unreachable = not checklist.rows
            checklist.add("deployment reachable", [str(exc)], "")
        result.checks = checklist.rows
    return result


def write_rollout(result: Rollout, out_dir: str | Path) -> list[Path]:
    """Write ``rollout.json`` and ``rollout.md`` to ``out_dir`` (created); return the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / "rollout.json", out / "rollout.md"
    json_path.write_bytes(msgspec.json.format(msgspec.json.encode(result.to_builtins()),
                                              indent=2) + b"\n")
    md_path.write_text(render_rollout_md(result), encoding="utf-8")
    return [json_path, md_path]
