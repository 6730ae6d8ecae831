"""POST/GET /worldservice/allocations: planned from stored state, idempotent, serialised."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from dependency_injector import providers

from app.container import Container
from app.contracts.events import REBALANCING_PLANNED
from app.contracts.rebalancing import PlanV1, PlanV2, RebalanceRequest
from app.errors import ServiceUnavailableError
from app.worldservice.allocations import AllocationsService
from tests.worldservice.records_support import alloc_body, receive, running_app

# The plan events only: every call also writes its audit_recorded event to the log.
PLANNED = [REBALANCING_PLANNED]

pytestmark = pytest.mark.anyio

ALLOC = "/worldservice/allocations"


async def test_first_upsert_records_a_baseline_then_plans_from_it(tmp_path: Path) -> None:
    async with running_app(tmp_path) as (client, _):
        first = await client.post(ALLOC, json=alloc_body("r1", {"a": 0.5, "b": 0.5}))
        second = await client.post(ALLOC, json=alloc_body("r2", {"a": 0.25, "b": 0.5}))
        current = (await client.get(ALLOC)).json()["allocations"]
    assert first.status_code == second.status_code == 200
    one, two = first.json(), second.json()
    # Unknown worlds count as unchanged: the baseline trades nothing.
    assert all(w["deltas"] == [] for w in one["per_world"].values())
    assert one["run_id"] == "r1" and one["executed"] is False and len(one["etag"]) == 64
    # Then the stored 0.5 is the before of world a: halve it.
    assert two["per_world"]["a"]["scale_world"] == 0.5
    assert two["per_world"]["a"]["deltas"] == [{"symbol": "SYM_a", "delta_qty": -50.0}]
    assert two["per_world"]["b"]["deltas"] == []
    assert current["a"]["allocation"] == 0.25 and current["a"]["run_id"] == "r2"
    assert current["a"]["etag"] == two["etag"] and current["b"]["etag"] == two["etag"]
    assert current["a"]["stale"] is False
    assert current["a"]["ttl"] == "300s"  # the default worldservice.allocation_ttl


async def test_same_run_id_replays_and_changed_payload_is_409(tmp_path: Path) -> None:
    async with running_app(tmp_path) as (client, container):
        body = alloc_body("r1", {"a": 0.5})
        first = await client.post(ALLOC, json=body)
        again = await client.post(ALLOC, json=body)
        changed = await client.post(ALLOC, json=alloc_body("r1", {"a": 0.6}))
        logged = await container.store().events_since(0, PLANNED, 10)
        current = (await client.get(ALLOC, params={"world_id": "a"})).json()["allocations"]
    assert again.status_code == 200 and again.content == first.content
    assert changed.status_code == 409 and changed.json()["code"] == "E_RUN_ID_CONFLICT"
    assert len(logged) == 1
    assert current["a"]["allocation"] == 0.5


async def test_stale_etag_is_409_and_current_etag_is_accepted(tmp_path: Path) -> None:
    async with running_app(tmp_path) as (client, _):
        etag1 = (await client.post(ALLOC, json=alloc_body("r1", {"a": 0.5}))).json()["etag"]
        etag2 = (await client.post(ALLOC, json=alloc_body("r2", {"a": 0.4}))).json()["etag"]
        stale = await client.post(ALLOC, json=alloc_body("r3", {"a": 0.3}, etag=etag1))
        fresh = await client.post(ALLOC, json=alloc_body("r4", {"a": 0.3}, etag=etag2))
        current = (await client.get(ALLOC)).json()["allocations"]
    assert stale.status_code == 409
    assert stale.json()["code"] == "E_ETAG_MISMATCH"
    assert stale.json()["worlds"] == ["a"]
    assert fresh.status_code == 200
    assert current["a"]["run_id"] == "r4"


async def test_concurrent_overlapping_upserts_both_land_in_order(tmp_path: Path) -> None:
    answers: dict[str, dict[str, Any]] = {}
    async with running_app(tmp_path) as (client, _):
        await client.post(ALLOC, json=alloc_body("r0", {"a": 0.5, "b": 0.5}))

        async def upsert(run_id: str, allocations: dict[str, float]) -> None:
            answer = await client.post(ALLOC, json=alloc_body(run_id, allocations))
            assert answer.status_code == 200
            answers[run_id] = answer.json()

        async with anyio.create_task_group() as tg:
            tg.start_soon(upsert, "x", {"a": 0.4, "b": 0.4})
            tg.start_soon(upsert, "y", {"b": 0.2, "c": 0.3})
        current = (await client.get(ALLOC)).json()["allocations"]
    x_scale = answers["x"]["per_world"]["b"]["scale_world"]
    y_scale = answers["y"]["per_world"]["b"]["scale_world"]
    if current["b"]["run_id"] == "y":  # x went first: y planned from x's 0.4
        assert (x_scale, y_scale, current["b"]["allocation"]) == (0.8, 0.5, 0.2)
    else:  # y went first: x planned from y's 0.2
        assert (y_scale, x_scale, current["b"]["allocation"]) == (0.4, 2.0, 0.4)
    assert current["a"]["allocation"] == 0.4 and current["c"]["allocation"] == 0.3


async def test_upsert_announces_each_world(tmp_path: Path) -> None:
    async with running_app(tmp_path) as (client, container):
        async with container.controlbus().subscribe([REBALANCING_PLANNED]) as sub:
            await client.post(ALLOC, json=alloc_body("r1", {"a": 0.5, "b": 0.1}))
            got = await receive(sub, 2)
    assert sorted(e.event.data["idempotency_key"] for e in got) == [
        "allocations:r1:a", "allocations:r1:b"
    ]


async def test_invalid_allocation_stores_nothing(tmp_path: Path) -> None:
    async with running_app(tmp_path) as (client, container):
        bad = await client.post(ALLOC, json=alloc_body("r1", {"a": 1.5}))
        missing = await client.post(ALLOC, json={"total_equity": 1})
        assert await container.store().get_allocation_run("r1") is None
        assert await container.store().events_since(0, PLANNED, 10) == []
    assert bad.status_code == 422
    assert missing.status_code == 422


async def test_unknown_world_is_404_and_ttl_marks_stale(tmp_path: Path) -> None:
    ttl = {"worldservice": {"allocation_ttl_seconds": 1e-9}}
    async with running_app(tmp_path, ttl) as (client, _):
        await client.post(ALLOC, json=alloc_body("r1", {"a": 0.5}))
        unknown = await client.get(ALLOC, params={"world_id": "zzz"})
        one = (await client.get(ALLOC, params={"world_id": "a"})).json()["allocations"]
    assert unknown.status_code == 404
    assert list(one) == ["a"] and one["a"]["stale"] is True
    assert one["a"]["ttl"] == "1e-09s"  # the deprecated seconds key still wins when set


async def test_allocation_ttl_is_shown_and_decides_stale(tmp_path: Path) -> None:
    clock = [1_000.0]

    def hook(container: Container) -> None:  # the same use case on a controllable clock
        container.allocations.override(
            providers.Singleton(
                AllocationsService, container.settings, container.store, clock=lambda: clock[0]
            )
        )

    ttl = {"worldservice": {"allocation_ttl": "5m"}}
    async with running_app(tmp_path, ttl, container_hook=hook) as (client, _):
        await client.post(ALLOC, json=alloc_body("r1", {"a": 0.5}))
        fresh = (await client.get(ALLOC)).json()["allocations"]["a"]
        clock[0] += 301.0
        old = (await client.get(ALLOC)).json()["allocations"]["a"]
    assert (fresh["ttl"], fresh["stale"]) == ("5m", False)
    assert (old["ttl"], old["stale"]) == ("5m", True)


async def test_execute_without_executor_is_503_and_stores_nothing(tmp_path: Path) -> None:
    async with running_app(tmp_path) as (client, container):
        answer = await client.post(ALLOC, json=alloc_body("r1", {"a": 0.5}, execute=True))
        assert await container.store().get_allocation_run("r1") is None
    assert answer.status_code == 503
    assert answer.json()["code"] == "E_EXECUTOR_UNAVAILABLE"


class RecordingExecutor:
    """A real in-process PlanExecutor, idempotent per ``run_id`` as the port requires; it
    records every hand-off and can fail the first ``failures`` of them."""

    def __init__(self, failures: int = 0) -> None:
        self.calls: list[tuple[RebalanceRequest, PlanV1 | PlanV2]] = []
        self.executed: dict[str | None, dict[str, Any]] = {}
        self.failures = failures

    async def execute_plan(
        self, request: RebalanceRequest, plan: PlanV1 | PlanV2
    ) -> dict[str, Any]:
        self.calls.append((request, plan))
        if self.failures:
            self.failures -= 1
            raise ServiceUnavailableError("venue down", code="E_VENUE_UNAVAILABLE")
        return self.executed.setdefault(plan.run_id, {"execution_id": f"x-{plan.run_id}"})


def _with(executor: RecordingExecutor) -> Callable[[Container], None]:
    def hook(container: Container) -> None:
        container.plan_executor.override(providers.Object(executor))

    return hook


async def test_execute_hands_the_plan_to_the_executor_once(tmp_path: Path) -> None:
    executor = RecordingExecutor()
    async with running_app(tmp_path, container_hook=_with(executor)) as (client, _):
        await client.post(ALLOC, json=alloc_body("r0", {"a": 0.5}))
        body = alloc_body("r1", {"a": 0.25}, execute=True)
        answer = await client.post(ALLOC, json=body)
        retry = await client.post(ALLOC, json=body)
    assert answer.status_code == 200 and answer.json()["executed"] is True
    assert retry.content == answer.content
    (request, plan) = executor.calls[0]
    assert request.world_alloc_before == {"a": 0.5} and request.world_alloc_after == {"a": 0.25}
    assert plan.run_id == "r1" and plan.per_world["a"].scale_world == 0.5
    # The retry hands the same stored plan again; the executor keeps one execution per run.
    assert len(executor.calls) == 2 and executor.calls[1][1] == plan
    assert list(executor.executed) == ["r1"]


async def test_a_failed_hand_off_is_completed_by_the_retry(tmp_path: Path) -> None:
    executor = RecordingExecutor(failures=1)
    async with running_app(tmp_path, container_hook=_with(executor)) as (client, container):
        await client.post(ALLOC, json=alloc_body("r0", {"a": 0.5}))
        body = alloc_body("r1", {"a": 0.25}, execute=True)
        failed = await client.post(ALLOC, json=body)
        stored = await container.store().get_allocation_run("r1")
        retry = await client.post(ALLOC, json=body)
    assert failed.status_code == 503 and failed.json()["code"] == "E_VENUE_UNAVAILABLE"
    assert stored is not None  # the allocation itself was acknowledged by the store
    assert retry.status_code == 200 and retry.json()["executed"] is True
    assert list(executor.executed) == ["r1"]
    assert executor.calls[1][1].per_world["a"].scale_world == 0.5  # the stored plan


async def test_writes_and_reads_need_a_key_once_keys_exist(tmp_path: Path) -> None:
    tokens = {"security": {"api_tokens": ["sekrit"]}}
    auth = {"authorization": "Bearer sekrit"}
    async with running_app(tmp_path, tokens) as (client, _):
        no_token = await client.post(ALLOC, json=alloc_body("r1", {"a": 0.5}))
        apply_no_token = await client.post("/worldservice/rebalancing/apply", json={})
        read_no_token = await client.get(ALLOC)
        with_token = await client.post(ALLOC, json=alloc_body("r1", {"a": 0.5}), headers=auth)
        read = await client.get(ALLOC, headers=auth)
        plans = await client.get("/worldservice/rebalancing/plans", headers=auth)
    assert no_token.status_code == apply_no_token.status_code == read_no_token.status_code == 401
    assert with_token.status_code == 200
    assert read.status_code == plans.status_code == 200


async def test_empty_run_id_is_422(tmp_path: Path) -> None:
    async with running_app(tmp_path) as (client, _):
        answer = await client.post(ALLOC, json=alloc_body("", {"a": 0.5}))
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["path"] == "$.run_id"
