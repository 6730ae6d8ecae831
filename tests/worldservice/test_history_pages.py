"""The list routes page with an opaque cursor: plans (WorldService), executions (Gateway)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from app.contracts.pages import encode_cursor
from tests.worldservice.records_support import apply_body, running_app

pytestmark = pytest.mark.anyio

PLANS = "/worldservice/rebalancing/plans"


async def test_plans_page_by_cursor_newest_first(tmp_path: Path) -> None:
    async with running_app(tmp_path) as (client, _):
        for i in range(5):
            worlds = ("a", "b") if i % 2 else ("a",)
            answer = await client.post("/worldservice/rebalancing/apply",
                                       json=apply_body(f"run-{i}", worlds))
            assert answer.status_code == 200
        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = (await client.get(PLANS, params=params)).json()
            seen += [p["run_id"] for p in page["plans"]]
            pages += 1
            cursor = page["next"]
            if cursor is None:
                break
        only_b = (await client.get(PLANS, params={"world_id": "b", "limit": 1})).json()
        rest_b = (await client.get(PLANS, params={"world_id": "b", "limit": 1,
                                                  "cursor": only_b["next"]})).json()
        one = await client.get(f"{PLANS}/run-3")
        missing = await client.get(f"{PLANS}/nope")
    assert seen == ["run-4", "run-3", "run-2", "run-1", "run-0"] and pages == 3
    assert [p["run_id"] for p in only_b["plans"]] == ["run-3"]
    assert [p["run_id"] for p in rest_b["plans"]] == ["run-1"] and rest_b["next"] is None
    assert one.status_code == 200 and one.json()["run_id"] == "run-3"
    assert one.json()["response"]["run_id"] == "run-3"
    assert missing.status_code == 404 and missing.json()["code"] == "E_PLAN_NOT_FOUND"


@pytest.mark.parametrize("cursor", ["%%%", "bm90LWEtY3Vyc29y", encode_cursor("executions", 3),
                                    encode_cursor("plans", 10**30), encode_cursor("plans", "²"),
                                    encode_cursor("plans", "9" * 19)])
async def test_a_foreign_or_broken_cursor_is_422(tmp_path: Path, cursor: str) -> None:
    async with running_app(tmp_path) as (client, _):
        answer = await client.get(PLANS, params={"cursor": cursor})
    assert answer.status_code == 422
    body = answer.json()
    assert body["code"] == "E_VALIDATION" and body["errors"][0]["path"] == "$.cursor"


def test_limit_is_capped_and_next_says_how_to_go_on(client: TestClient[Any]) -> None:
    assert client.get(PLANS, params={"limit": 1001}).status_code == 422
    empty = client.get(PLANS).json()
    assert empty == {"plans": [], "next": None}


def test_gateway_lists_executions_by_page(client: TestClient[Any]) -> None:
    body = apply_body(None, ("a", "b"))
    ids = []
    for _ in range(3):
        answer = client.post("/rebalancing/execute", params={"submit": "true"}, json=body,
                             headers={"X-Allow-Live": "true"})
        assert answer.status_code == 200, answer.text
        ids.append(answer.json()["execution_id"])
    client.post("/rebalancing/execute", json=body)  # a dry run is not recorded
    first = client.get("/rebalancing/executions", params={"limit": 2}).json()
    second = client.get("/rebalancing/executions",
                        params={"limit": 2, "cursor": first["next"]}).json()
    by_world = client.get("/rebalancing/executions", params={"world_id": "a"}).json()
    nowhere = client.get("/rebalancing/executions", params={"world_id": "zzz"}).json()
    wrong = client.get("/rebalancing/executions", params={"cursor": encode_cursor("plans", 1)})
    assert [e["execution_id"] for e in first["executions"]] == ids[::-1][:2]
    assert [e["execution_id"] for e in second["executions"]] == ids[:1]
    assert second["next"] is None
    assert [e["execution_id"] for e in by_world["executions"]] == ids[::-1]
    assert nowhere == {"executions": [], "next": None}
    assert first["executions"][0]["response"]["execution_id"] == ids[-1]
    assert wrong.status_code == 422


async def test_allocations_page_when_asked(tmp_path: Path) -> None:
    async with running_app(tmp_path) as (client, _):
        body = {"run_id": "alloc-1", "total_equity": 1000.0, "positions": [],
                "world_allocations": {f"w{i}": 0.1 for i in range(5)}}
        assert (await client.post("/worldservice/allocations", json=body)).status_code == 200
        everything = (await client.get("/worldservice/allocations")).json()
        first = (await client.get("/worldservice/allocations", params={"limit": 2})).json()
        rest = (await client.get("/worldservice/allocations",
                                 params={"limit": 10, "cursor": first["next"]})).json()
        bad = await client.get("/worldservice/allocations",
                               params={"cursor": encode_cursor("plans", 1)})
    assert list(everything["allocations"]) == [f"w{i}" for i in range(5)]
    assert everything["next"] is None  # no limit: every world, as before
    assert list(first["allocations"]) == ["w0", "w1"] and first["next"]
    assert list(rest["allocations"]) == ["w2", "w3", "w4"] and rest["next"] is None
    assert bad.status_code == 422
