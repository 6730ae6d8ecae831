"""Mixed fleets: a gateway-only Worldgate in front of a QMTL-shaped WorldService.

The WorldService is a stub on a loopback port answering recorded QMTL-shaped samples
(``tests/gateway/qmtl_samples``); the Gateway must plan, apply and execute with them
without a 502, answering the normalised plan with the v1/v2 rules of the contract.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from app.testing import serve_in_thread
from tests.gateway.factories import request_body
from tests.gateway.servers import QmtlWorldService, qmtl_sample

V2_GATEWAY = {"rebalance_schema_version": 2, "alpha_metrics_capable": True}
EMPTY_ENVELOPE = {"per_world": {}, "per_strategy": {}}


@pytest.fixture(scope="module")
def stub() -> Iterator[tuple[QmtlWorldService, str]]:
    service = QmtlWorldService()
    with serve_in_thread(service.app()) as base:
        yield service, f"{base}/worldservice"


@pytest.fixture
def qmtl(stub: tuple[QmtlWorldService, str]) -> QmtlWorldService:
    """The stub, reset to the untagged v1 sample for each test."""
    service, _ = stub
    service.plan = qmtl_sample("plan_v1_untagged")
    service.allocations = qmtl_sample("allocations_snapshot")
    service.bodies.clear()
    service.queries.clear()
    return service


@pytest.fixture
def gateway(
    make_client: Callable[..., TestClient[Any]], stub: tuple[QmtlWorldService, str]
) -> Callable[..., TestClient[Any]]:
    """``gateway(**gw)``: a gateway-only app whose WorldService is the QMTL stub."""

    def build(**gw: Any) -> TestClient[Any]:
        settings = {"worldservice_url": stub[1], "worldservice_retries": 0, **gw}
        return make_client({"server": {"roles": ["gateway"]}, "gateway": settings})

    return build


def test_untagged_plan_is_v1_and_executes(
    qmtl: QmtlWorldService, gateway: Callable[..., TestClient[Any]]
) -> None:
    c = gateway(**V2_GATEWAY)
    plan = c.post("/rebalancing/plan", json=request_body())
    assert plan.status_code == 200, plan.text
    body = plan.json()
    assert body["schema_version"] == 1  # no schema_version → 1
    assert "alpha_metrics" not in body and "rebalance_intent" not in body
    assert body["per_world"]["a"]["deltas"][0] == {"symbol": "BTC", "delta_qty": -1.0}
    assert qmtl.bodies[0]["schema_version"] == 2  # the Gateway asked for v2; QMTL said 1
    answer = c.post("/rebalancing/execute", json=request_body()).json()
    assert (answer["rebalance_schema_version"], answer["alpha_metrics_capable"]) == (1, False)
    got = [
        (o["symbol"], o["quantity"], o.get("reduce_only")) for o in answer["orders_per_world"]["a"]
    ]
    assert got == [("BTC", -1.0, True), ("ETH", 5.0, True)]


def test_v2_plan_without_envelopes_gets_empty_ones(
    qmtl: QmtlWorldService, gateway: Callable[..., TestClient[Any]]
) -> None:
    qmtl.plan = qmtl_sample("plan_v2_no_envelopes")
    c = gateway(**V2_GATEWAY)
    body = c.post("/rebalancing/plan", json=request_body()).json()
    assert body["schema_version"] == 2
    assert body["alpha_metrics"] == EMPTY_ENVELOPE
    assert body["rebalance_intent"] == {"meta": {}}
    answer = c.post("/rebalancing/execute", json=request_body()).json()
    assert answer["rebalance_schema_version"] == 2
    assert answer["alpha_metrics_capable"] is False  # configured capable, but no metrics came
    assert "alpha_metrics" not in answer


def test_keyed_worlds_without_world_id_or_global_deltas(
    qmtl: QmtlWorldService, gateway: Callable[..., TestClient[Any]]
) -> None:
    qmtl.plan = qmtl_sample("plan_keyed_worlds")
    c = gateway(shared_account_policy={"enabled": True})
    body = c.post("/rebalancing/plan", json=request_body()).json()
    assert {w: p["world_id"] for w, p in body["per_world"].items()} == {"a": "a", "b": "b"}
    assert body["global_deltas"] == []
    assert body["per_world"]["b"] == {
        "world_id": "b", "scale_world": 1.0, "scale_by_strategy": {}, "deltas": []
    }
    per_world = c.post("/rebalancing/execute", json=request_body()).json()
    assert [o["symbol"] for o in per_world["orders_per_world"]["a"]] == ["BTC", "ETH"]
    shared = c.post("/rebalancing/execute?shared_account=true", json=request_body())
    assert shared.status_code == 200, shared.text
    assert shared.json()["orders_global"] == []  # no global_deltas: nothing to net


def test_apply_through_the_gateway_answers_the_normalised_plan(
    qmtl: QmtlWorldService, gateway: Callable[..., TestClient[Any]]
) -> None:
    qmtl.plan = qmtl_sample("plan_keyed_worlds")
    response = gateway().post("/rebalancing/apply", json=request_body(run_id="qmtl-1"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["schema_version"] == 1 and body["global_deltas"] == []
    assert body["per_world"]["a"]["world_id"] == "a"
    assert qmtl.bodies[0]["run_id"] == "qmtl-1"


@pytest.mark.parametrize(
    "answer",
    [
        b'{"detail": "Internal Server Error"}',
        b"[]",
        b"<html>not json</html>",
        b'{"per_world": {"a": 3}, "global_deltas": []}',
        b'{"schema_version": "two", "per_world": {}}',
        b'{"schema_version": 9, "per_world": {}}',
        b'{"per_world": {"a": {"deltas": [{"symbol": "X"}]}}}',
    ],
)
def test_only_a_body_that_is_not_a_plan_is_502(
    qmtl: QmtlWorldService, gateway: Callable[..., TestClient[Any]], answer: bytes
) -> None:
    qmtl.plan = answer
    c = gateway()
    for path in ("/rebalancing/plan", "/rebalancing/execute"):
        response = c.post(path, json=request_body())
        assert response.status_code == 502, (path, response.text)
        error = response.json()
        assert error["code"] == "E_WORLDSERVICE_BAD_RESPONSE"
        assert isinstance(error["detail"], str) and error["detail"]


def test_per_strategy_splits_world_deltas_no_strategy_explains(
    qmtl: QmtlWorldService, gateway: Callable[..., TestClient[Any]]
) -> None:
    qmtl.plan = qmtl_sample("plan_empty_scales")
    body = request_body(strategy_alloc_after_total={"a": {"s1": 0.1, "s2": 0.3}})
    answer = gateway().post("/rebalancing/execute?per_strategy=true", json=body).json()
    got = {
        (e["world_id"], e["strategy_id"], e["order"]["symbol"]): e["order"]["quantity"]
        for e in answer["orders_per_strategy"]
    }
    assert got == pytest.approx({
        ("a", "s1", "BTC"): -1.0,  # only s1 holds BTC in a: all of it, by notional
        ("a", "s2", "ETH"): 5.0,  # only s2 holds ETH
        ("a", "s1", "SOL"): 2.0,  # nobody holds SOL: by strategy_alloc_after_total, 1 : 3
        ("a", "s2", "SOL"): 6.0,
    })
    assert all(e["order"]["strategy_id"] == e["strategy_id"] for e in answer["orders_per_strategy"])
    assert [(d["world_id"], d["symbol"], d["reason"]) for d in answer["dropped"]] == [
        ("c", "XRP", "no_strategy")  # world c has neither positions nor allocations
    ]
    assert sum(len(v) for v in answer["orders_per_world"].values()) == len(got)


def test_overlay_answer_echoes_overlay_deltas(
    qmtl: QmtlWorldService, gateway: Callable[..., TestClient[Any]]
) -> None:
    qmtl.plan = qmtl_sample("plan_overlay")
    body = request_body(mode="overlay")
    body["overlay"] = {"instrument_by_world": {"a": "ES"}, "price_by_symbol": {"ES": 100.0}}
    answer = gateway().post("/rebalancing/execute", json=body).json()
    assert answer["overlay_deltas"] == [{"symbol": "ES", "delta_qty": -5.0}]
    assert answer["orders_per_world"]["a"] == [
        {"symbol": "ES", "quantity": -5.0, "side": "sell", "time_in_force": "GTC"}
    ]  # opening a short: no reduce_only key at all


def test_allocations_from_a_qmtl_worldservice(
    qmtl: QmtlWorldService, gateway: Callable[..., TestClient[Any]]
) -> None:
    c = gateway()
    everything = c.get("/allocations")
    assert everything.status_code == 200, everything.text
    snaps = everything.json()["allocations"]
    assert snaps["a"]["updated_at"] == pytest.approx(1763024400.0)  # ISO → Unix seconds
    assert (snaps["a"]["ttl"], snaps["a"]["stale"]) == ("300s", True)
    assert snaps["b"] == {
        "world_id": "b", "allocation": 0.5, "run_id": None, "etag": None,
        "strategy_alloc_total": None, "updated_at": None, "ttl": None, "stale": False,
    }
    one = c.get("/allocations", params={"world_id": "a"}).json()["allocations"]
    assert list(one) == ["a"]
    assert qmtl.queries == [None, "a"]


def test_allocations_that_are_not_a_snapshot_are_502(
    qmtl: QmtlWorldService, gateway: Callable[..., TestClient[Any]]
) -> None:
    qmtl.allocations = msgspec.json.encode({"allocations": {"a": {"allocation": "lots"}}})
    response = gateway().get("/allocations")
    assert response.status_code == 502
    assert response.json()["code"] == "E_WORLDSERVICE_BAD_RESPONSE"


def test_health_in_front_of_a_worldservice_without_capabilities(
    qmtl: QmtlWorldService, gateway: Callable[..., TestClient[Any]]
) -> None:
    body = gateway(**V2_GATEWAY).get("/health").json()
    # QMTL's WorldService has no /capabilities: it is up, its highest version is unknown.
    assert (body["status"], body["worldservice"]) == ("ok", "ok")
    assert body.get("worldservice_max_schema_version") is None  # omitted: not known
