"""The one lenient reader of peer plans and allocation snapshots (QMTL's defaults)."""

from __future__ import annotations

import math
from typing import Any

import msgspec
import pytest

from app.contracts.allocations import AllocationsReadError, read_allocations
from app.contracts.alpha_envelope import METRIC_KEYS
from app.contracts.plan_reading import PlanReadError, read_plan, read_plan_bytes
from app.contracts.rebalancing import PlanV1, PlanV2


def _world(**extra: Any) -> dict[str, Any]:
    return {"scale_world": 0.5, "scale_by_strategy": {"s": 0.5},
            "deltas": [{"symbol": "X", "delta_qty": -1.0}], **extra}


def test_untagged_plan_is_v1_and_drops_v2_fields() -> None:
    plan = read_plan({"per_world": {"w": _world(world_id="w")}, "global_deltas": [],
                      "alpha_metrics": {"per_world": {}}, "rebalance_intent": {"meta": {}}})
    assert isinstance(plan, PlanV1)
    assert b"alpha_metrics" not in msgspec.json.encode(plan)


def test_world_entries_take_their_key_and_qmtl_defaults() -> None:
    plan = read_plan({"per_world": {"w": _world(), "v": {}}})
    assert plan.per_world["w"].world_id == "w"
    assert plan.per_world["v"].world_id == "v"
    assert (plan.per_world["v"].scale_world, plan.per_world["v"].scale_by_strategy) == (1.0, {})
    assert plan.per_world["v"].deltas == []
    assert plan.global_deltas == []
    assert plan.overlay_deltas is None


def test_an_explicit_world_id_is_kept() -> None:
    assert read_plan({"per_world": {"w": _world(world_id="other")}}).per_world["w"].world_id == (
        "other"
    )


def test_v2_without_envelopes_gets_empty_ones() -> None:
    plan = read_plan({"schema_version": 2, "per_world": {"w": _world()}})
    assert isinstance(plan, PlanV2)
    assert (plan.alpha_metrics.per_world, plan.alpha_metrics.per_strategy) == ({}, {})
    assert plan.rebalance_intent.meta == {}


@pytest.mark.parametrize(
    ("intent", "meta"),
    [(None, {}), ({}, {}), ({"meta": None}, {}), ({"meta": [1]}, {}), ("x", {}),
     ({"meta": {"ticket": "T-1"}}, {"ticket": "T-1"})],
)
def test_v2_intent_is_read_tolerantly(intent: object, meta: dict[str, Any]) -> None:
    plan = read_plan({"schema_version": 2.0, "per_world": {}, "rebalance_intent": intent})
    assert isinstance(plan, PlanV2) and plan.rebalance_intent.meta == meta


def test_v2_metrics_are_sanitised() -> None:
    metrics = {"per_world": {"w": {"alpha_performance.sharpe": "high", "other": 1.0,
                                   "alpha_performance.win_ratio": 0.5}},
               "per_strategy": {"s": {"w": None, "v": {"alpha_performance.car_mdd": 2}}}}
    plan = read_plan({"schema_version": 2, "per_world": {}, "alpha_metrics": metrics})
    assert isinstance(plan, PlanV2)
    world = plan.alpha_metrics.per_world["w"]
    assert set(world) == set(METRIC_KEYS)
    assert (world["alpha_performance.sharpe"], world["alpha_performance.win_ratio"]) == (0.0, 0.5)
    assert plan.alpha_metrics.per_strategy == {
        "s": {"v": {**dict.fromkeys(METRIC_KEYS, 0.0), "alpha_performance.car_mdd": 2.0}}
    }
    assert all(math.isfinite(v) for v in world.values())


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b"{}",
        b'{"per_world": []}',
        b'{"per_world": {"w": 1}}',
        b'{"per_world": {}, "schema_version": true}',
        b'{"per_world": {}, "schema_version": 1.5}',
        b'{"per_world": {}, "schema_version": 7}',
        b'{"per_world": {"w": {"deltas": [{"delta_qty": 1.0}]}}}',
        b'{"per_world": {}, "global_deltas": {"a": 1}}',
    ],
)
def test_a_body_that_is_not_a_plan_is_refused(body: bytes) -> None:
    with pytest.raises(PlanReadError):
        read_plan_bytes(body)


def test_allocation_snapshots_read_leniently() -> None:
    reply = read_allocations(
        b'{"allocations": {"a": {"allocation": 0.5, "updated_at": "2025-11-13T09:00:00Z"},'
        b' "b": {"world_id": "b", "allocation": 1, "updated_at": 12.5, "ttl": "300s",'
        b' "run_id": "r", "etag": "e", "stale": true, "unknown": 1}}}'
    )
    a, b = reply.allocations["a"], reply.allocations["b"]
    assert (a.world_id, a.run_id, a.etag, a.ttl, a.stale) == ("a", None, None, None, False)
    assert a.updated_at == pytest.approx(1763024400.0)
    assert (b.allocation, b.updated_at, b.ttl, b.stale) == (1.0, 12.5, "300s", True)


@pytest.mark.parametrize(
    "body",
    [b"nope", b"[]", b"{}", b'{"allocations": []}', b'{"allocations": {"a": 1}}',
     b'{"allocations": {"a": {}}}', b'{"allocations": {"a": {"allocation": 1, '
     b'"updated_at": "yesterday"}}}', b'{"allocations": {"a": {"allocation": 1, '
     b'"updated_at": [1]}}}'],
)
def test_a_body_that_is_not_a_snapshot_is_refused(body: bytes) -> None:
    with pytest.raises(AllocationsReadError):
        read_allocations(body)
