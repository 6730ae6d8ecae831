"""Schema v3 through apply and allocations: stored, replayed byte for byte, announced with
each world's own ``skipped`` and ``projection`` (and never to v1/v2 readers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from app.contracts.events import (
    EVENT_SOURCE_WORLDSERVICE,
    REBALANCING_PLANNED,
    PlannedV1,
    PlannedV2,
    PlannedV3,
    new_event,
    payload_view,
    typed_payload,
)
from app.gateway.event_views import view_event
from tests.worldservice.records_support import alloc_body, apply_body, receive, running_app

pytestmark = pytest.mark.anyio

V3 = {"worldservice": {"server": {"compat_rebalance_v2": True, "compat_rebalance_v3": True}}}
V2 = {"worldservice": {"server": {"compat_rebalance_v2": True}}}
APPLY = "/worldservice/rebalancing/apply"
ALLOC = "/worldservice/allocations"
POLICY = {"max_turnover": 0.001, "costs": {"default": {"fee_bps": 10.0}}}


def v3_apply(run_id: str) -> dict[str, Any]:
    return apply_body(run_id, ("a", "b", "c"), schema_version=3, policy=POLICY,
                      lot_size_by_symbol={"SYM1": 1.0})


async def test_v3_apply_is_stored_replayed_and_announced_per_world(tmp_path: Path) -> None:
    async with running_app(tmp_path, V3) as (client, container):
        async with container.controlbus().subscribe([REBALANCING_PLANNED]) as sub:
            first = await client.post(APPLY, json=v3_apply("r3"))
            again = await client.post(APPLY, json=v3_apply("r3"))
            got = await receive(sub, 3)
        plans = (await client.get("/worldservice/rebalancing/plans")).json()["plans"]
    assert first.status_code == 200, first.text
    assert again.content == first.content and again.headers["x-idempotent-replay"] == "true"
    answer = first.json()
    assert answer["schema_version"] == 3 and plans[0]["schema_version"] == 3
    assert plans[0]["response"] == answer
    codes = {s["code"] for s in answer["skipped"]}
    assert "TURNOVER_CAPPED" in codes
    for received in got:
        data = received.event.data
        world = data["world_id"]
        assert data["schema_version"] == data["version"] == 3
        assert data["skipped"] == [s for s in answer["skipped"] if s["world_id"] == world]
        assert data["projection"] == answer["projection"]["per_world"][world]
        assert "funding" not in data and "total" not in data["projection"]
        payload = typed_payload(REBALANCING_PLANNED, data)
        assert isinstance(payload, PlannedV3)
        v2, v1 = payload_view(payload, 2), payload_view(payload, 1)
        assert type(v2) is PlannedV2 and type(v1) is PlannedV1
        for reader in (1, 2):
            seen = msgspec.json.decode(view_event(received.event, reader))["data"]
            assert "skipped" not in seen and "projection" not in seen
            assert seen["schema_version"] == seen["version"] == reader
        seen3 = msgspec.json.decode(view_event(received.event, 3))["data"]
        assert seen3["skipped"] == data["skipped"]


async def test_a_policy_apply_below_v3_is_refused_and_stores_nothing(tmp_path: Path) -> None:
    async with running_app(tmp_path, V2) as (client, container):
        answer = await client.post(APPLY, json=v3_apply("r2"))
        # Plan events only: the refused call's own audit_recorded event is in the log too.
        logged = await container.store().events_since(0, [REBALANCING_PLANNED], 100)
        plans = (await client.get("/worldservice/rebalancing/plans")).json()["plans"]
    assert answer.status_code == 422 and answer.json()["code"] == "E_POLICY_REQUIRES_V3"
    assert logged == [] and plans == []


async def test_allocations_plan_with_a_policy_in_v3(tmp_path: Path) -> None:
    policy = {"band": {"abs": 0.002}}
    async with running_app(tmp_path, V3) as (client, _):
        base = await client.post(ALLOC, json=alloc_body("r1", {"a": 0.5, "b": 0.5},
                                                        schema_version=3))
        small = alloc_body("r2", {"a": 0.45, "b": 0.5}, schema_version=3, policy=policy)
        banded = await client.post(ALLOC, json=small)
        replay = await client.post(ALLOC, json=small)
        big = await client.post(ALLOC, json=alloc_body("r3", {"a": 0.1, "b": 0.5},
                                                       schema_version=3, policy=policy))
        refused = await client.post(ALLOC, json=alloc_body("r4", {"a": 0.2}, policy=policy))
    assert base.status_code == 200 and base.json()["schema_version"] == 3
    plan = banded.json()
    # Strategy s of world a moves from 0.01 to 0.009 of equity: within the band.
    assert plan["per_world"]["a"]["deltas"] == []
    assert [(s["code"], s["strategy_id"]) for s in plan["skipped"]] == [("WITHIN_BAND", "s")]
    assert replay.content == banded.content
    (delta,) = big.json()["per_world"]["a"]["deltas"]  # 0.01 → 0.0022: outside, trades
    assert delta["delta_qty"] == pytest.approx(100 * (0.1 / 0.45 - 1))
    assert refused.status_code == 422 and refused.json()["code"] == "E_POLICY_REQUIRES_V3"


def test_a_foreign_v3_payload_is_cut_down_for_older_readers() -> None:
    data = {"world_id": "w", "plan": {"deltas": []}, "version": 3, "schema_version": 3,
            "skipped": [], "projection": {}, "alpha_metrics": {}, "extra": 1}
    event = new_event(REBALANCING_PLANNED, EVENT_SOURCE_WORLDSERVICE, data, subject="w")
    assert typed_payload(REBALANCING_PLANNED, data) is None  # not our payload type
    v2 = msgspec.json.decode(view_event(event, 2))["data"]
    assert v2 == {"world_id": "w", "plan": {"deltas": []}, "version": 2, "schema_version": 2,
                  "alpha_metrics": {}, "extra": 1}
    v1 = msgspec.json.decode(view_event(event, 1))["data"]
    assert v1 == {"world_id": "w", "plan": {"deltas": []}, "version": 1, "schema_version": 1}
    assert msgspec.json.decode(view_event(event, 3))["data"] == data
