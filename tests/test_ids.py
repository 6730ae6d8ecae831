"""Identifiers are refused identically on every backend: 422 naming the field, never a 503.

PostgreSQL cannot store NUL characters nor index very long keys, SQLite takes both; before a
body reaches either, one rule (``app.contracts.ids``) refuses what no store should get.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import pytest
from litestar.testing import TestClient

from app.contracts.ids import MAX_ID_LENGTH, id_problem
from tests.backends import BACKENDS, backend_client, start_client  # noqa: F401 - fixture

Client = Callable[..., TestClient[Any]]
LONG = "x" * 3000
_NO_GUARD = {"gateway": {"enforce_live_guard": False}}


def _position(world: str = "w", strategy: str = "s", symbol: str = "X",
              venue: str | None = None) -> dict[str, Any]:
    return {"world_id": world, "strategy_id": strategy, "symbol": symbol, "qty": 1.0,
            "mark": 10.0, "venue": venue}


def _body(world: str = "w", **position: Any) -> dict[str, Any]:
    return {
        "total_equity": 1000.0,
        "world_alloc_before": {world: 0.5},
        "world_alloc_after": {world: 0.25},
        "positions": [_position(world=world, **position)],
    }


def _alloc(run_id: str = "r", world: str = "w") -> dict[str, Any]:
    return {"run_id": run_id, "total_equity": 1000.0, "world_allocations": {world: 0.25},
            "positions": [_position(world=world)]}


# (name, method, path, body, the error path that must be named)
CASES: list[tuple[str, str, str, dict[str, Any] | None, str]] = [
    ("NUL run_id at apply", "POST", "/worldservice/rebalancing/apply",
     {**_body(), "run_id": "a\x00b"}, "$.run_id"),
    ("long run_id at apply", "POST", "/worldservice/rebalancing/apply",
     {**_body(), "run_id": LONG}, "$.run_id"),
    ("long run_id at Gateway apply", "POST", "/rebalancing/apply",
     {**_body(), "run_id": LONG}, "$.run_id"),
    ("NUL run_id at allocations", "POST", "/worldservice/allocations",
     _alloc(run_id="a\x00b"), "$.run_id"),
    ("long run_id at allocations", "POST", "/worldservice/allocations", _alloc(run_id=LONG),
     "$.run_id"),
    ("NUL world at apply", "POST", "/worldservice/rebalancing/apply",
     {**_body(world="w\x00"), "run_id": "ok-1"}, "$.positions[0].world_id"),
    ("long world at apply", "POST", "/worldservice/rebalancing/apply",
     {**_body(world=LONG), "run_id": "ok-2"}, "$.positions[0].world_id"),
    ("NUL world at allocations", "POST", "/worldservice/allocations",
     _alloc(run_id="ok-3", world="w\x00"), '$.world_allocations["w\\u0000"]'),
    ("control char strategy", "POST", "/worldservice/rebalancing/plan",
     _body(strategy="s\x1b[31m"), "$.positions[0].strategy_id"),
    ("long symbol at execute", "POST", "/rebalancing/execute?submit=true",
     _body(symbol=LONG), "$.positions[0].symbol"),
    ("NUL venue", "POST", "/rebalancing/plan", _body(venue="v\x00"), "$.positions[0].venue"),
    ("NUL world query", "GET", "/worldservice/allocations?world_id=" + quote("w\x00"), None,
     "$.world_id"),
    ("long world query", "GET", "/worldservice/rebalancing/plans?world_id=" + LONG, None,
     "$.world_id"),
    ("NUL execution id", "GET", "/rebalancing/executions/" + quote("e\x00"), None,
     "$.execution_id"),
    ("long execution id", "GET", "/rebalancing/executions/" + LONG, None, "$.execution_id"),
]


@pytest.fixture(scope="module", params=BACKENDS)
def shared(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient[Any]]:
    client = start_client(request.param, tmp_path_factory.mktemp("ids"), _NO_GUARD)
    yield client
    client.__exit__(None, None, None)


@pytest.mark.parametrize(("name", "method", "path", "body", "where"), CASES,
                         ids=[c[0] for c in CASES])
def test_bad_ids_are_422_on_every_backend(
    shared: TestClient[Any],
    name: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    where: str,
) -> None:
    client = shared
    response = client.request(method, path, json=body)
    assert response.status_code == 422, (name, response.status_code, response.text)
    answer = response.json()
    assert answer["code"] == "E_VALIDATION"
    assert where in {e["path"] for e in answer["errors"]}, answer
    # Nothing was stored: the plan history is empty on every backend.
    assert client.get("/worldservice/rebalancing/plans").json()["plans"] == []


def test_the_longest_valid_ids_are_stored_on_every_backend(
    backend_client: Client,  # noqa: F811 - the imported fixture
) -> None:
    client = backend_client(_NO_GUARD)
    longest = "é" * MAX_ID_LENGTH  # 512 bytes of UTF-8
    body = {**_body(world=longest), "run_id": "r" * MAX_ID_LENGTH}
    response = client.post("/worldservice/rebalancing/apply", json=body)
    assert response.status_code == 200, response.text
    plans = client.get("/worldservice/rebalancing/plans", params={"world_id": longest}).json()
    assert [p["run_id"] for p in plans["plans"]] == ["r" * MAX_ID_LENGTH]
    upsert = client.post("/worldservice/allocations", json=_alloc("a" * MAX_ID_LENGTH, longest))
    assert upsert.status_code == 200, upsert.text


@pytest.mark.parametrize(
    ("value", "ok"),
    [("w", True), ("world-1/β ok", True), ("", False), ("a\x00", False), ("a\x7f", False),
     ("a\x85", False), ("a\n", False), ("x" * MAX_ID_LENGTH, True),
     ("x" * (MAX_ID_LENGTH + 1), False)],
)
def test_the_rule(value: str, ok: bool) -> None:
    assert (id_problem(value) is None) is ok


def test_a_policy_venue_follows_the_rule(make_client: Client) -> None:
    client = make_client({
        "worldservice": {"server": {"compat_rebalance_v2": True, "compat_rebalance_v3": True}},
        "gateway": {"rebalance_schema_version": 3},
    })
    costs = {"by_venue": {"v\x00": {"fee_bps": 1.0}, "ok": {"fee_bps": 1.0}}}
    body = {**_body(), "schema_version": 3, "policy": {"costs": costs}}
    for path in ("/worldservice/rebalancing/plan", "/rebalancing/plan"):
        response = client.post(path, json=body)
        assert response.status_code == 422, (path, response.text)
        paths = [e["path"] for e in response.json()["errors"]]
        assert paths == ['$.policy.costs.by_venue["v\\u0000"]'], paths
    ok = {**body, "policy": {"costs": {"by_venue": {"ok": {"fee_bps": 1.0}}}}}
    assert client.post("/rebalancing/plan", json=ok).status_code == 200
