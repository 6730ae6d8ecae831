"""The rows of the rollout checklist for a target schema version (2 or 3), run live."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from functools import partial
from typing import Any

import msgspec

from app.contracts.events import REBALANCING_PLANNED, CloudEvent
from app.contracts.rebalancing import RebalanceIntent, RebalanceRequest
from app.errors import Code
from app.sdk.checks import (
    NEWER_FIELDS,
    Check,
    health_problems,
    lower_plan_problems,
    v2_plan_problems,
    v3_plan_problems,
)
from app.sdk.client import GatewayClient
from app.sdk.errors import SdkError, Unreachable, WorldgateError
from app.sdk.events import EventStream
from app.sdk.samples import sample_policy, sample_request, sample_returns, sample_world_returns
from app.sdk.wire import GatewayHealth

__all__ = ["Checklist"]

_PLAN_ROW = {
    2: "v2 plan round-trips with computed metrics and intent",
    3: "v3 plan round-trips with computed metrics, intent, skipped deltas and projection",
}


def _request(prefix: str, version: int, meta: dict[str, Any]) -> RebalanceRequest:
    """The sample request as a client of ``version`` sends it (v3 with the sample policy)."""
    base = sample_request(prefix)
    return msgspec.structs.replace(
        base, schema_version=version, rebalance_intent=RebalanceIntent(meta=meta),
        realized_returns_by_strategy=sample_returns(prefix),
        realized_returns_by_world=sample_world_returns(prefix),
        policy=sample_policy() if version >= 3 else None,
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


def _leaked(data: Mapping[str, Any], reader: int) -> list[str]:
    plan = data.get("plan")
    inner = plan if isinstance(plan, Mapping) else {}
    fields = NEWER_FIELDS.get(reader, ())
    return [f for f in fields if f in data] + [f"plan.{f}" for f in fields if f in inner]


def _newer(reader: int, target: int) -> str:
    return " or ".join(f"v{v}" for v in range(reader + 1, target + 1)) + " fields"


class Checklist:
    """Collects the rows; each method runs one check against the live deployment.

    Args:
        client: the Gateway client.
        token: bearer token for ``WS /events``, when required.
        event_timeout: seconds to wait for each WebSocket event.
        target: the schema version being rolled out (2 or 3).
    """

    def __init__(self, client: GatewayClient, token: str | None, event_timeout: float,
                 target: int) -> None:
        self.client = client
        self.token = token
        self.event_timeout = event_timeout
        self.target = target
        self.rows: list[Check] = []

    def add(self, name: str, problems: list[str], evidence: str) -> bool:
        """Record a row: ok when there are no problems (then ``evidence`` is shown)."""
        self.rows.append(Check(name=name, ok=not problems,
                               evidence=evidence if not problems else "; ".join(problems)))
        return not problems

    def guarded(self, name: str, fn: Callable[[], object]) -> None:
        """Run ``fn``; an SDK error (but unreachability) becomes a failed row."""
        try:
            fn()
        except Unreachable:
            raise
        except SdkError as exc:
            self.add(name, [str(exc)], "")

    def worldservice(self) -> dict[str, Any]:
        """WorldService's capabilities serve the target version."""
        caps: dict[str, Any] = {}
        name = f"WorldService serves schema v{self.target}"

        def run() -> None:
            caps.update(self.client.worldservice_capabilities())
            ws_max = caps.get("max_schema_version")
            switches = ["compat_rebalance_v2"] + (
                ["compat_rebalance_v3"] if self.target >= 3 else [])
            ok = isinstance(ws_max, int) and ws_max >= self.target and all(
                caps.get(s) is True for s in switches)
            evidence = f"max_schema_version={ws_max}, " + ", ".join(
                f"{s}={caps.get(s, False)}" for s in switches
            ) + f", alpha_metrics_required={caps.get('alpha_metrics_required')}"
            self.add(name, [] if ok else [f"worldservice capabilities: {caps}"], evidence)

        self.guarded(name, run)
        return caps

    def gateway(self, health: GatewayHealth, ws_caps: Mapping[str, Any]) -> None:
        """The Gateway advertises the target and agrees with WorldService."""
        self.add(f"Gateway advertises v{self.target} and alpha_metrics_capable",
                 health_problems(health, self.target, True),
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

    def target_plan(self, prefix: str) -> None:
        """A plan at the target version through the Gateway, checked field by field."""
        request = _request(prefix, self.target, {"rollout_check": prefix})
        name = _PLAN_ROW[self.target]
        check = v3_plan_problems if self.target >= 3 else v2_plan_problems
        evidence = (f"schema_version={self.target}, per-strategy metrics equal the SDK's, "
                    "intent echoed")
        if self.target >= 3:
            evidence += ", skipped codes known, projection for every world, funding adds up"
        self.guarded(name, lambda: self.add(
            name, check(self.client.plan_raw(request), request), evidence))

    def lower_plans(self, prefix: str, ws_caps: Mapping[str, Any]) -> None:
        """Every lower version's client gets a clean answer of its own version.

        v1: no ``schema_version`` key straight to WorldService, and ``schema_version=1``
        through the Gateway; v2 (when rolling out v3): ``schema_version=2`` through the
        Gateway.
        """
        for version in range(self.target - 1, 0, -1):
            name = f"v{version} request gets a clean v{version} answer"
            base = sample_request(prefix)
            calls: list[tuple[str, Callable[[], object]]]
            if version == 1:
                explicit = msgspec.structs.replace(base, schema_version=1)
                calls = [
                    ("WorldService, no schema_version",
                     partial(self.client.worldservice_plan_raw, base)),
                    ("Gateway, schema_version=1", partial(self.client.plan_raw, explicit)),
                ]
            else:
                shaped = _request(prefix, version, {"rollout_check": prefix})
                calls = [("Gateway, schema_version=2", partial(self.client.plan_raw, shaped))]
            self._lower(name, version, calls, ws_caps)

    def _lower(self, name: str, version: int, calls: list[tuple[str, Callable[[], object]]],
               ws_caps: Mapping[str, Any]) -> None:
        problems: list[str] = []
        evidence: list[str] = []
        for label, call in calls:
            try:
                raw = call()
            except WorldgateError as exc:
                required = ws_caps.get("alpha_metrics_required") is True
                if version == 1 and required and exc.code == Code.SCHEMA_VERSION_REQUIRED:
                    evidence.append(f"{label}: refused with 400 E_SCHEMA_VERSION_REQUIRED "
                                    "(alpha_metrics_required is on)")
                else:
                    problems.append(f"{label}: {exc}")
                continue
            problems += [f"{label}: {p}" for p in lower_plan_problems(raw, version)]
            hidden = "/".join(NEWER_FIELDS[version])
            evidence.append(f"{label}: schema_version={version}, no {hidden}")
        self.add(name, problems, "; ".join(evidence))

    def policy_refusal(self, prefix: str) -> None:
        """A policy asked for at v2 is refused with 422 ``E_POLICY_REQUIRES_V3``."""
        name = "a policy below v3 is refused with E_POLICY_REQUIRES_V3"
        request = msgspec.structs.replace(_request(prefix, 3, {}), schema_version=2)
        try:
            raw = self.client.plan_raw(request)
        except WorldgateError as exc:
            ok = exc.status == 422 and exc.code == Code.POLICY_REQUIRES_V3
            self.add(name, [] if ok else [f"refused with {exc.status} {exc.code}"],
                     "schema_version=2 with a policy: 422 E_POLICY_REQUIRES_V3")
            return
        version = raw.get("schema_version") if isinstance(raw, Mapping) else None
        self.add(name, [f"answered 200 (schema_version={version}) instead of refusing"], "")

    def events(self, prefix: str) -> None:
        """An applied plan reaches a target-version WebSocket client with its fields, and
        every lower-version client without the newer ones."""
        run_id = f"{prefix}apply"
        meta = {"rollout_check": prefix}
        request = _request(prefix, self.target, meta)
        world = f"{prefix}core"
        target_name = (f"rebalancing_planned carries v{self.target} metadata to a "
                       f"v{self.target} WebSocket client")
        names = {r: f"v{r} WebSocket client gets the event without {_newer(r, self.target)}"
                 for r in range(1, self.target)}
        got: dict[int, CloudEvent | None] = {}
        try:
            with ExitStack() as stack:
                streams = {
                    r: stack.enter_context(EventStream(
                        self.client.base_url, token=self.token, schema_version=r,
                        topics=[REBALANCING_PLANNED], world_id=world))
                    for r in range(self.target, 0, -1)
                }
                try:
                    self.client.apply_raw(request, run_id=run_id)
                except Unreachable:
                    raise
                except SdkError as exc:
                    for name in [target_name, *names.values()]:
                        self.add(name, [f"apply failed: {exc}"], "")
                    return
                for reader, stream in streams.items():
                    got[reader] = _wait_for(stream, run_id, self.event_timeout)
        except SdkError as exc:
            if isinstance(exc, Unreachable) and exc.url.startswith("http"):
                raise  # the Gateway itself went away (raised by apply)
            for name in [target_name, *names.values()]:
                self.add(name, [f"event stream: {exc}"], "")
            return
        self._target_event(target_name, got.get(self.target), world, meta)
        for reader, name in sorted(names.items(), reverse=True):
            event = got.get(reader)
            if event is None:
                self.add(name, [f"no rebalancing_planned for {world} within "
                                f"{self.event_timeout}s"], "")
                continue
            leaked = _leaked(event.data, reader)
            self.add(name, [f"v{reader} client received {', '.join(leaked)}"] if leaked else [],
                     f"event {event.id} seq={event.seq}: no "
                     f"{', no '.join(NEWER_FIELDS[reader])}")

    def _target_event(self, name: str, event: CloudEvent | None, world: str,
                      meta: dict[str, Any]) -> None:
        if event is None:
            self.add(name, [f"no rebalancing_planned for {world} within "
                            f"{self.event_timeout}s"], "")
            return
        data = event.data
        problems = [] if data.get("schema_version") == self.target else [
            f"event schema_version={data.get('schema_version')}"]
        if "alpha_metrics" not in data:
            problems.append("event has no alpha_metrics")
        intent = data.get("rebalance_intent")
        if not isinstance(intent, Mapping) or intent.get("meta") != meta:
            problems.append(f"event intent {intent!r} != sent {meta!r}")
        fields = "alpha_metrics and rebalance_intent"
        if self.target >= 3:
            fields = "alpha_metrics, rebalance_intent, skipped and projection"
            for key in ("skipped", "projection"):
                if key not in data:
                    problems.append(f"event has no {key}")
        self.add(name, problems, f"event {event.id} seq={event.seq}: "
                 f"schema_version={self.target}, {fields} present")
