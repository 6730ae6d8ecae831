"""POST /worldservice/rebalancing/apply: stored once, announced once per world, idempotent."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from dependency_injector import providers

from app.container import Container
from app.contracts.events import REBALANCING_PLANNED, CloudEvent
from app.store.adapters.sqlite import SqliteStore
from tests.worldservice.records_support import apply_body, receive, running_app

# The plan events only: every call also writes its audit_recorded event to the log.
PLANNED = [REBALANCING_PLANNED]

pytestmark = pytest.mark.anyio

V2 = {"worldservice": {"server": {"compat_rebalance_v2": True}}}
APPLY = "/worldservice/rebalancing/apply"


async def test_apply_twice_stores_one_plan_and_one_event_per_world(tmp_path: Path) -> None:
    async with running_app(tmp_path) as (client, container):
        bus, store = container.controlbus(), container.store()
        async with bus.subscribe([REBALANCING_PLANNED]) as sub:
            first = await client.post(APPLY, json=apply_body("run-1", ("a", "b", "c")))
            again = await client.post(APPLY, json=apply_body("run-1", ("a", "b", "c")))
            assert first.status_code == again.status_code == 200
            assert again.content == first.content  # the stored bytes, not a recomputation
            assert first.json()["run_id"] == "run-1"
            got = await receive(sub, 3)
            # A later, different apply is the very next thing on the bus: the retry
            # queued nothing.
            later = await client.post(APPLY, json=apply_body("run-2", ("z",)))
            assert later.status_code == 200
            (next_one,) = await receive(sub, 1)
        plans = (await client.get("/worldservice/rebalancing/plans")).json()["plans"]
        assert len(await store.events_since(0, PLANNED, 100)) == 4  # 3 + 1, none for the retry
    assert sorted(e.event.subject or "" for e in got) == ["a", "b", "c"]
    assert {e.event.data["run_id"] for e in got} == {"run-1"}
    assert next_one.event.data["run_id"] == "run-2"
    assert [p["run_id"] for p in plans] == ["run-2", "run-1"]
    run1 = plans[1]
    assert sorted(run1["world_ids"]) == ["a", "b", "c"]
    assert sorted(e["id"] for e in run1["events"]) == sorted(e.event.id for e in got)
    assert run1["response"] == first.json()


async def test_changed_body_under_same_run_id_is_409(tmp_path: Path) -> None:
    async with running_app(tmp_path) as (client, container):
        assert (await client.post(APPLY, json=apply_body("run-1"))).status_code == 200
        changed = apply_body("run-1", total_equity=5.0)
        answer = await client.post(APPLY, json=changed)
        logged = await container.store().events_since(0, PLANNED, 100)
    assert answer.status_code == 409
    assert answer.json()["code"] == "E_RUN_ID_CONFLICT"
    assert len(logged) == 2  # only the first apply's two worlds


async def test_same_body_with_other_key_order_and_mode_case_is_a_replay(tmp_path: Path) -> None:
    async with running_app(tmp_path) as (client, _):
        body = apply_body("run-1", mode="scaling")
        reordered = dict(reversed(list(apply_body("run-1", mode="SCALING").items())))
        first = await client.post(APPLY, json=body)
        second = await client.post(APPLY, json=reordered)
    assert second.status_code == 200 and second.content == first.content
    assert second.headers["x-idempotent-replay"] == "true"


async def test_run_id_is_generated_when_absent(tmp_path: Path) -> None:
    async with running_app(tmp_path) as (client, _):
        one = (await client.post(APPLY, json=apply_body())).json()
        two = (await client.post(APPLY, json=apply_body())).json()
        plans = (await client.get("/worldservice/rebalancing/plans")).json()["plans"]
    assert one["run_id"] and two["run_id"] and one["run_id"] != two["run_id"]
    assert {p["run_id"] for p in plans} == {one["run_id"], two["run_id"]}


def _data(events: Sequence[Any]) -> dict[str, dict[str, Any]]:
    return {e.event.subject: e.event.data for e in events}


async def test_v1_events_carry_no_v2_fields(tmp_path: Path) -> None:
    async with running_app(tmp_path, V2) as (client, container):
        async with container.controlbus().subscribe([REBALANCING_PLANNED]) as sub:
            answer = await client.post(APPLY, json=apply_body("r1"))  # no schema_version → v1
            data = _data(await receive(sub, 2))
    assert answer.json()["schema_version"] == 1
    for world, payload in data.items():
        assert set(payload) == {
            "world_id", "plan", "version", "schema_version", "run_id", "idempotency_key"
        }
        assert payload["schema_version"] == 1 and payload["world_id"] == world
        assert payload["version"] == 1
        assert payload["plan"] == answer.json()["per_world"][world]
        assert payload["idempotency_key"] == f"apply:r1:{world}"


async def test_v2_events_carry_only_their_worlds_metrics(tmp_path: Path) -> None:
    body = apply_body(
        "r2",
        schema_version=2,
        rebalance_intent={"meta": {"ticket": "T-1"}},
        realized_returns_by_world={"a": [0.1, -0.05, 0.2], "b": [0.01, 0.02]},
    )
    async with running_app(tmp_path, V2) as (client, container):
        async with container.controlbus().subscribe([REBALANCING_PLANNED]) as sub:
            answer = (await client.post(APPLY, json=body)).json()
            data = _data(await receive(sub, 2))
    assert answer["schema_version"] == 2
    for world in ("a", "b"):
        payload = data[world]
        assert payload["schema_version"] == 2
        assert payload["version"] == 2  # data.version = the event's schema version
        assert payload["rebalance_intent"] == {"meta": {"ticket": "T-1"}}
        metrics = payload["alpha_metrics"]
        assert metrics["per_world"] == {world: answer["alpha_metrics"]["per_world"][world]}
        for by_world in metrics["per_strategy"].values():
            assert set(by_world) == {world}
    assert data["a"]["alpha_metrics"]["per_world"]["a"]["alpha_performance.sharpe"] == (
        pytest.approx(0.811107, abs=1e-6)
    )


async def test_overlay_mode_announces_every_world(tmp_path: Path) -> None:
    body = apply_body(
        "ov",
        mode="overlay",
        overlay={"instrument_by_world": {"a": "IDX", "b": "IDX"}, "price_by_symbol": {"IDX": 50}},
    )
    async with running_app(tmp_path) as (client, container):
        async with container.controlbus().subscribe([REBALANCING_PLANNED]) as sub:
            answer = await client.post(APPLY, json=body)
            got = await receive(sub, 2)
    assert answer.status_code == 200 and answer.json()["overlay_deltas"]
    assert sorted(e.event.subject or "" for e in got) == ["a", "b"]


async def test_invalid_body_stores_nothing(tmp_path: Path) -> None:
    async with running_app(tmp_path) as (client, container):
        bad = await client.post(APPLY, json=apply_body("r", mode="sideways"))
        broken = await client.post(
            APPLY, content=b"{not json", headers={"content-type": "application/json"}
        )
        assert await container.store().events_since(0, PLANNED, 10) == []
        assert await container.store().get_plan("r") is None
    assert bad.status_code == 422
    assert broken.status_code == 400


class FailingStore(SqliteStore):
    """A real SQLite store whose disk "fails" after the plan row was written."""

    failing = True

    def _insert_events(self, conn: sqlite3.Connection, events: Sequence[CloudEvent]) -> None:
        if self.failing:
            raise sqlite3.OperationalError("disk I/O error")
        super()._insert_events(conn, events)


async def test_store_failure_mid_apply_is_503_and_sends_nothing(tmp_path: Path) -> None:
    failing = FailingStore(tmp_path / "failing.sqlite3")

    def hook(container: Container) -> None:
        container.store.override(providers.Object(failing))

    async with running_app(tmp_path, container_hook=hook) as (client, container):
        async with container.controlbus().subscribe([REBALANCING_PLANNED]) as sub:
            answer = await client.post(APPLY, json=apply_body("doomed", ("a",)))
            assert await failing.get_plan("doomed") is None
            assert await failing.events_since(0, PLANNED, 10) == []
            failing.failing = False
            # The same run_id works once the store is back; its event is the first one seen.
            retry = await client.post(APPLY, json=apply_body("doomed", ("a",)))
            (first,) = await receive(sub, 1)
    assert answer.status_code == 503
    assert answer.json()["code"] == "E_STORE_UNAVAILABLE"
    assert retry.status_code == 200
    assert first.event.data["run_id"] == "doomed"


async def test_plans_listing_filters_and_limits(tmp_path: Path) -> None:
    async with running_app(tmp_path) as (client, _):
        for i, worlds in enumerate([("a", "b"), ("b",), ("c",), ("a",)]):
            assert (await client.post(APPLY, json=apply_body(f"r{i}", worlds))).status_code == 200
        listing = "/worldservice/rebalancing/plans"
        by_a = (await client.get(listing, params={"world_id": "a"})).json()["plans"]
        limited = (await client.get(listing, params={"limit": 2})).json()["plans"]
        unknown = (await client.get(listing, params={"world_id": "nope"})).json()["plans"]
        too_big = await client.get(listing, params={"limit": 1001})
        zero = await client.get(listing, params={"limit": 0})
    assert [p["run_id"] for p in by_a] == ["r3", "r0"]
    assert [p["run_id"] for p in limited] == ["r3", "r2"]
    assert unknown == []
    assert too_big.status_code == zero.status_code == 422
    assert all(e["topic"] == REBALANCING_PLANNED for p in by_a for e in p["events"])


async def test_stored_run_replays_after_a_restart_with_other_settings(tmp_path: Path) -> None:
    async with running_app(tmp_path) as (client, _):
        first = await client.post(APPLY, json=apply_body("kept"))
    required = {"worldservice": {"server": {"compat_rebalance_v2": True,
                                            "alpha_metrics_required": True}}}
    async with running_app(tmp_path, required) as (client, _):  # same SQLite file
        again = await client.post(APPLY, json=apply_body("kept"))
        new_v1 = await client.post(APPLY, json=apply_body("new"))
    assert again.status_code == 200 and again.content == first.content
    assert new_v1.status_code == 400
    assert new_v1.json()["code"] == "E_SCHEMA_VERSION_REQUIRED"
