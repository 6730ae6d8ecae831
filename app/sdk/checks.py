"""Shared verification helpers of ``rehearse`` and ``rollout``: check rows and plan checks."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import msgspec

from app.contracts.rebalancing import RebalanceRequest
from app.metrics.alpha import METRIC_KEYS, compute_metrics
from app.sdk.wire import GatewayHealth

__all__ = ["V2_FIELDS", "Check", "health_problems", "v1_plan_problems", "v2_plan_problems"]

V2_FIELDS = ("alpha_metrics", "rebalance_intent")


class Check(msgspec.Struct, kw_only=True):
    """One checklist row: what was checked, whether it passed and the evidence."""

    name: str
    ok: bool
    evidence: str


def health_problems(health: GatewayHealth, want: int, want_alpha: bool) -> list[str]:
    """Why a Gateway's health falls short of schema ``want`` (empty when it does not)."""
    problems: list[str] = []
    if health.rebalance_schema_version < want:
        problems.append(
            f"gateway advertises rebalance_schema_version={health.rebalance_schema_version}, "
            f"expected >= {want}"
        )
    if want_alpha and not health.alpha_metrics_capable:
        problems.append("gateway does not advertise alpha_metrics_capable")
    ws_max = health.worldservice_max_schema_version
    if ws_max is not None and ws_max < want:
        problems.append(f"worldservice supports schema_version {ws_max} only, expected >= {want}")
    if health.status != "ok":
        problems.append(f"gateway status is {health.status!r}")
    return problems


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _metric_problems(got: object, series: list[float], label: str) -> list[str]:
    """Compare a metrics map from the wire with what the metrics module computes."""
    if not isinstance(got, Mapping):
        return [f"alpha_metrics for {label} are missing"]
    want = compute_metrics(series)
    problems = []
    for key in METRIC_KEYS:
        value = got.get(key)
        if not isinstance(value, int | float) or not _close(float(value), want[key]):
            problems.append(f"{label} {key} = {value!r}, computed {want[key]:.6g}")
    return problems


def v2_plan_problems(raw: object, request: RebalanceRequest) -> list[str]:
    """Check a raw plan answer against a v2 request: version, computed metrics, intent echo.

    Every series sent in ``realized_returns_by_strategy`` (``realized_returns_by_world``)
    must come back in ``alpha_metrics.per_strategy[strategy][world]`` (``per_world[world]``)
    with the values the metrics module computes; every planned world must have
    ``per_world`` metrics; the intent must be echoed.
    """
    if not isinstance(raw, Mapping):
        return ["plan answer is not a JSON object"]
    if raw.get("schema_version") != 2:
        return [f"plan came back as schema_version={raw.get('schema_version', 1)}, expected 2"]
    problems: list[str] = []
    metrics: Any = raw.get("alpha_metrics")
    if not isinstance(metrics, Mapping):
        return ["v2 plan has no alpha_metrics object"]
    per_world = metrics.get("per_world") or {}
    per_strategy = metrics.get("per_strategy") or {}
    for world in raw.get("per_world") or {}:
        if world not in per_world:
            problems.append(f"alpha_metrics.per_world has no entry for world {world}")
    for world, series in (request.realized_returns_by_world or {}).items():
        problems += _metric_problems(per_world.get(world), series, f"world {world}")
    for world, strategies in (request.realized_returns_by_strategy or {}).items():
        for strategy, series in strategies.items():
            got = (per_strategy.get(strategy) or {}).get(world)
            problems += _metric_problems(got, series, f"{strategy}@{world}")
    sent = request.rebalance_intent.meta if request.rebalance_intent else {}
    echoed = raw.get("rebalance_intent")
    if not isinstance(echoed, Mapping) or echoed.get("meta") != sent:
        problems.append(f"rebalance_intent not echoed: sent {sent!r}, got {echoed!r}")
    return problems


def v1_plan_problems(raw: object) -> list[str]:
    """Check that a raw plan answer is a clean v1 plan (no v2 field at all)."""
    if not isinstance(raw, Mapping):
        return ["plan answer is not a JSON object"]
    problems = []
    if raw.get("schema_version", 1) != 1:
        problems.append(f"schema_version={raw.get('schema_version')}, expected 1")
    leaked = [f for f in V2_FIELDS if f in raw]
    if leaked:
        problems.append(f"v1 answer carries v2 field(s): {', '.join(leaked)}")
    if "per_world" not in raw or "global_deltas" not in raw:
        problems.append("v1 answer lacks per_world/global_deltas")
    return problems
