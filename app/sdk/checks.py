"""Shared verification helpers of ``rehearse`` and ``rollout``: check rows and plan checks."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import msgspec

from app.contracts.rebalancing import RebalanceRequest
from app.metrics.alpha import METRIC_KEYS, compute_metrics
from app.sdk.wire import GatewayHealth

__all__ = [
    "NEWER_FIELDS",
    "V2_FIELDS",
    "V3_FIELDS",
    "Check",
    "health_problems",
    "lower_plan_problems",
    "v1_plan_problems",
    "v2_plan_problems",
    "v3_plan_problems",
]

V2_FIELDS = ("alpha_metrics", "rebalance_intent")
V3_FIELDS = ("skipped", "projection", "funding")
NEWER_FIELDS: dict[int, tuple[str, ...]] = {1: V2_FIELDS + V3_FIELDS, 2: V3_FIELDS}
"""The answer fields a client of each version must never see."""
SKIP_CODES = frozenset(
    {"WITHIN_BAND", "TURNOVER_CAPPED", "CASH_LIMITED", "BELOW_MIN_NOTIONAL", "BELOW_LOT"}
)


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


def lower_plan_problems(raw: object, version: int) -> list[str]:
    """Check that a raw plan answer is a clean ``version`` plan (no newer field at all)."""
    if not isinstance(raw, Mapping):
        return ["plan answer is not a JSON object"]
    problems = []
    if raw.get("schema_version", 1) != version:
        problems.append(f"schema_version={raw.get('schema_version')}, expected {version}")
    leaked = [f for f in NEWER_FIELDS.get(version, ()) if f in raw]
    if leaked:
        problems.append(f"v{version} answer carries newer field(s): {', '.join(leaked)}")
    if "per_world" not in raw or "global_deltas" not in raw:
        problems.append(f"v{version} answer lacks per_world/global_deltas")
    return problems


def v1_plan_problems(raw: object) -> list[str]:
    """Check that a raw plan answer is a clean v1 plan (no v2 or v3 field at all)."""
    return lower_plan_problems(raw, 1)


def _figures(obj: object, keys: tuple[str, ...], label: str) -> list[str]:
    if not isinstance(obj, Mapping):
        return [f"{label} is missing"]
    return [f"{label}.{k} = {obj.get(k)!r} is not a finite number" for k in keys
            if not (isinstance(obj.get(k), int | float) and math.isfinite(float(obj[k])))]


def v3_plan_problems(raw: object, request: RebalanceRequest) -> list[str]:
    """Check a raw plan answer against a v3 request: every v2 check, then ``skipped`` (known
    codes, worlds of the plan), ``projection`` (every world, finite figures, targets as
    sent) and, with a cash policy, ``funding`` (its budget adds up)."""
    if not isinstance(raw, Mapping):
        return ["plan answer is not a JSON object"]
    if raw.get("schema_version") != 3:
        return [f"plan came back as schema_version={raw.get('schema_version', 1)}, expected 3"]
    problems = v2_plan_problems({**raw, "schema_version": 2}, request)
    worlds = set(raw.get("per_world") or {})
    skipped = raw.get("skipped")
    if not isinstance(skipped, list):
        problems.append("v3 plan has no skipped list")
        skipped = []
    for item in skipped:
        if not isinstance(item, Mapping) or item.get("code") not in SKIP_CODES:
            problems.append(f"skipped entry {item!r} has no known code")
        elif item.get("world_id") not in worlds:
            problems.append(f"skipped entry names unknown world {item.get('world_id')!r}")
    projection = raw.get("projection")
    if not isinstance(projection, Mapping):
        return [*problems, "v3 plan has no projection"]
    per_world = projection.get("per_world") or {}
    keys = ("weight_before", "weight_after", "target", "residual", "turnover_notional",
            "est_cost")
    for world in sorted(worlds):
        problems += _figures(per_world.get(world), keys, f"projection.per_world.{world}")
        target = (per_world.get(world) or {}).get("target")
        if target is not None and target != request.world_alloc_after.get(world, 0.0):
            problems.append(f"projection target of {world} is {target}, sent "
                            f"{request.world_alloc_after.get(world, 0.0)}")
    problems += _figures(projection.get("total"), ("turnover_notional", "turnover_weight",
                                                   "est_cost", "est_cost_bps"),
                         "projection.total")
    cash = request.policy.cash if request.policy is not None else None
    funding = raw.get("funding")
    if cash is None:
        if funding is not None:
            problems.append("funding present without a cash policy")
        return problems
    found = _figures(funding, ("available", "buffer", "buys", "sells", "budget", "buy_scale"),
                     "funding")
    if found or not isinstance(funding, Mapping):
        return problems + found
    want = cash.available - cash.buffer * request.total_equity + float(funding["sells"])
    if not _close(float(funding["budget"]), want):
        problems.append(f"funding.budget {funding['budget']} != available − buffer·equity + "
                        f"sells = {want}")
    return problems
