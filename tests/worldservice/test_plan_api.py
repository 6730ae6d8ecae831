"""``POST /worldservice/rebalancing/plan`` over HTTP: negotiation, shapes and every 4xx."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from app.metrics import METRIC_KEYS, default_metrics
from app.worldservice.plans import INLINE_PLAN_POSITIONS
from tests.worldservice.plan_builders import pos, request_json

URL = "/worldservice/rebalancing/plan"
V2 = {"worldservice": {"server": {"compat_rebalance_v2": True}}}
V2_REQUIRED = {"worldservice": {"server": {"compat_rebalance_v2": True,
                                            "alpha_metrics_required": True}}}
ClientFactory = Callable[..., TestClient[Any]]


def spec_body(**extra: Any) -> dict[str, Any]:
    body = request_json(
        world_alloc_before={"a": 0.3, "b": 0.2},
        world_alloc_after={"a": 0.2, "b": 0.2},
        positions=[pos("a", "s", "BTC", 1.0, 60_000.0), pos("b", "t", "ETH", 2.0, 3_000.0)],
        strategy_alloc_before_total={"a": {"s": 0.1}},
        strategy_alloc_after_total={"a": {"s": 0.2 / 3}},
        lot_size_by_symbol={"BTC": 0.001},
    )
    body.update(extra)
    return body


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["code"] == code
    assert isinstance(body["detail"], str) and body["detail"]
    for item in body.get("errors", []):
        assert set(item) == {"path", "message"} and item["path"].startswith("$")
    return body


def test_v1_by_default_never_shows_v2_fields(make_client: ClientFactory) -> None:
    client = make_client()
    body = spec_body(schema_version=2, rebalance_intent={"meta": {"ticket": "T-1"}})
    response = client.post(URL, json=body)
    assert response.status_code == 200, response.text
    plan = response.json()
    assert set(plan) == {"schema_version", "per_world", "global_deltas"}
    assert plan["schema_version"] == 1
    assert plan["per_world"]["a"]["deltas"] == [{"symbol": "BTC", "delta_qty": -0.333}]
    assert plan["per_world"]["b"]["deltas"] == []
    assert plan["global_deltas"] == [{"symbol": "BTC", "delta_qty": -0.333}]
    assert set(plan["per_world"]["a"]) == {"world_id", "scale_world", "scale_by_strategy",
                                          "deltas"}


def test_v2_carries_metrics_and_echoes_intent(make_client: ClientFactory) -> None:
    client = make_client(V2)
    body = spec_body(
        schema_version=2,
        rebalance_intent={"meta": {"ticket": "T-1", "n": 3}},
        realized_returns_by_world={"a": [0.1, -0.05, 0.2]},
        realized_returns_by_strategy={"a": {"s": [0.1, -0.05, 0.2]}},
    )
    plan = client.post(URL, json=body).json()
    assert plan["schema_version"] == 2
    assert set(plan) == {"schema_version", "per_world", "global_deltas", "alpha_metrics",
                         "rebalance_intent"}
    assert plan["rebalance_intent"] == {"meta": {"ticket": "T-1", "n": 3}}
    per_world = plan["alpha_metrics"]["per_world"]
    assert set(per_world) == {"a", "b"}
    assert per_world["a"]["alpha_performance.sharpe"] == pytest.approx(0.811107, abs=1e-6)
    assert per_world["a"]["alpha_performance.car_mdd"] == pytest.approx(5.08, abs=1e-6)
    assert per_world["b"] == default_metrics()
    per_strategy = plan["alpha_metrics"]["per_strategy"]
    assert set(per_strategy) == {"s", "t"}
    assert per_strategy["s"]["a"]["alpha_performance.profit_factor"] == pytest.approx(6.0)
    assert per_strategy["t"] == {"b": default_metrics()}
    assert list(per_world["a"]) == list(METRIC_KEYS)


def test_v2_without_intent_gets_empty_meta_and_v1_request_gets_v1(
    make_client: ClientFactory,
) -> None:
    client = make_client(V2)
    plan = client.post(URL, json=spec_body(schema_version=2)).json()
    assert plan["rebalance_intent"] == {"meta": {}}
    plan = client.post(URL, json=spec_body()).json()
    assert plan["schema_version"] == 1 and "alpha_metrics" not in plan
    plan = client.post(URL, json=spec_body(schema_version=7)).json()
    assert plan["schema_version"] == 2


def test_flipping_compat_changes_the_answer(make_client: ClientFactory) -> None:
    body = spec_body(schema_version=2)
    off = make_client().post(URL, json=body).json()
    on = make_client(V2).post(URL, json=body).json()
    assert off["schema_version"] == 1 and on["schema_version"] == 2
    assert off["per_world"] == on["per_world"]


def test_schema_version_required(make_client: ClientFactory) -> None:
    client = make_client(V2_REQUIRED)
    for body in (spec_body(), spec_body(schema_version=1)):
        err = assert_error(client.post(URL, json=body), 400, "E_SCHEMA_VERSION_REQUIRED")
        assert "schema_version" in err["detail"]
    assert client.post(URL, json=spec_body(schema_version=2)).status_code == 200


def test_unknown_fields_are_ignored(client: TestClient[Any]) -> None:
    body = spec_body(future_field={"x": 1})
    body["positions"][0]["colour"] = "blue"
    response = client.post(URL, json=body)
    assert response.status_code == 200
    assert response.json()["global_deltas"] == [{"symbol": "BTC", "delta_qty": -0.333}]


def test_overlay_and_hybrid_over_http(client: TestClient[Any]) -> None:
    overlay = {"instrument_by_world": {"a": "ES", "b": "ES"}, "price_by_symbol": {"ES": 5000.0}}
    plan = client.post(URL, json=spec_body(mode="Overlay", overlay=overlay)).json()
    # a: (0.2/0.3 − 1)·60000 = −20000 → −4 ES (b keeps its allocation).
    assert plan["overlay_deltas"] == [{"symbol": "ES", "delta_qty": pytest.approx(-4.0)}]
    assert plan["per_world"]["a"]["deltas"] == [] and plan["global_deltas"] == []
    hybrid = dict(overlay, overlay_fraction=0.0)
    plan = client.post(URL, json=spec_body(mode="hybrid", overlay=hybrid)).json()
    assert plan["overlay_deltas"] == []
    assert plan["global_deltas"] == [{"symbol": "BTC", "delta_qty": -0.333}]


def test_venue_is_echoed(client: TestClient[Any]) -> None:
    body = request_json(
        world_alloc_before={"w": 0.5}, world_alloc_after={"w": 0.25},
        positions=[pos("w", "s", "X", 4.0, 10.0, "binance")],
    )
    plan = client.post(URL, json=body).json()
    assert plan["per_world"]["w"]["deltas"] == [
        {"symbol": "X", "delta_qty": -2.0, "venue": "binance"}
    ]


BAD_BODIES: list[tuple[str, bytes, int, str, set[str]]] = [
    ("malformed", b'{"total_equity": ', 400, "E_MALFORMED_JSON", set()),
    ("nan literal", b'{"total_equity": NaN}', 400, "E_MALFORMED_JSON", set()),
    ("empty", b"", 400, "E_MALFORMED_JSON", set()),
    ("array", b"[]", 422, "E_VALIDATION", {"$"}),
    ("missing field", b'{"world_alloc_before": {}, "world_alloc_after": {}, "positions": []}',
     422, "E_VALIDATION", {"$.total_equity"}),
    ("wrong type", b'{"total_equity": 1, "world_alloc_before": {}, "world_alloc_after": {},'
     b' "positions": [{"world_id": "w", "strategy_id": "s", "symbol": "A", "qty": "abc",'
     b' "mark": 1}]}', 422, "E_VALIDATION", {"$.positions[0].qty"}),
    ("1e999", b'{"total_equity": 1e999, "world_alloc_before": {}, "world_alloc_after": {},'
     b' "positions": []}', 422, "E_VALIDATION", {"$.total_equity"}),
]


@pytest.mark.parametrize(("name", "raw", "status", "code", "paths"), BAD_BODIES,
                         ids=[b[0] for b in BAD_BODIES])
def test_bad_bodies(
    client: TestClient[Any], name: str, raw: bytes, status: int, code: str, paths: set[str]
) -> None:
    response = client.post(URL, content=raw, headers={"content-type": "application/json"})
    body = assert_error(response, status, code)
    assert {i["path"] for i in body.get("errors", [])} == paths, name


BAD_RULES: list[tuple[str, dict[str, Any], set[str]]] = [
    ("unknown mode", {"mode": "twist"}, {"$.mode"}),
    ("overlay without config", {"mode": "overlay"}, {"$.overlay"}),
    ("hybrid without fraction",
     {"mode": "hybrid", "overlay": {"instrument_by_world": {"a": "ES", "b": "ES"},
                                    "price_by_symbol": {"ES": 1.0}}},
     {"$.overlay.overlay_fraction"}),
    ("missing instrument", {"mode": "overlay", "overlay": {"price_by_symbol": {"ES": 1.0}}},
     {'$.overlay.instrument_by_world["a"]', '$.overlay.instrument_by_world["b"]'}),
    ("world missing from a map", {"world_alloc_after": {"a": 0.2}},
     {'$.world_alloc_after["b"]'}),
    ("non-positive mark and bad allocation",
     {"positions": [{"world_id": "a", "strategy_id": "s", "symbol": "BTC", "qty": 1,
                     "mark": 0}], "world_alloc_before": {"a": 1.2, "b": 0.2}},
     {"$.positions[0].mark", '$.world_alloc_before["a"]'}),
    ("schema version 0", {"schema_version": 0}, {"$.schema_version"}),
    ("overflowing scale", {"world_alloc_before": {"a": 1e-320, "b": 0.2}},
     {'$.world_alloc_before["a"]'}),
]


@pytest.mark.parametrize(("name", "changes", "paths"), BAD_RULES, ids=[b[0] for b in BAD_RULES])
def test_contract_rules_are_422(
    client: TestClient[Any], name: str, changes: dict[str, Any], paths: set[str]
) -> None:
    body = assert_error(client.post(URL, json=spec_body(**changes)), 422, "E_VALIDATION")
    assert {i["path"] for i in body["errors"]} == paths, name


def test_too_many_positions_is_413(make_client: ClientFactory) -> None:
    client = make_client({"server": {"max_positions": 1}})
    assert_error(client.post(URL, json=spec_body()), 413, "E_PAYLOAD_TOO_LARGE")


def test_openapi_documents_the_endpoint(client: TestClient[Any]) -> None:
    schema = client.get("/schema/openapi.json").json()
    operation = schema["paths"][URL]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    # The body schema wraps the reference to carry a description and a worked example.
    assert body["allOf"][0]["$ref"].endswith("/RebalanceRequest") and body["examples"]
    one_of = operation["responses"]["200"]["content"]["application/json"]["schema"]["oneOf"]
    assert {r["$ref"].rsplit("/", 1)[1] for r in one_of} == {"PlanV1", "PlanV2", "PlanV3"}


def test_readme_example_request(make_client: ClientFactory) -> None:
    # examples/plan_request.json is what README and docs/plan-endpoint.md post.
    raw = (Path(__file__).parents[2] / "examples" / "plan_request.json").read_bytes()
    headers = {"content-type": "application/json"}
    v1 = make_client().post(URL, content=raw, headers=headers).json()
    assert v1["schema_version"] == 1
    assert v1["per_world"]["crypto-momo"]["deltas"] == [
        {"symbol": "BTCUSDT", "delta_qty": -1.0, "venue": "binance"},
        {"symbol": "ETHUSDT", "delta_qty": -5.0, "venue": "binance"},
    ]
    assert v1["global_deltas"][2:] == [
        {"symbol": "SPY", "delta_qty": 50.0}, {"symbol": "TLT", "delta_qty": -25.0}
    ]
    v2 = make_client(V2).post(URL, content=raw, headers=headers).json()
    assert v2["rebalance_intent"]["meta"]["ticket"] == "RB-1042"
    assert v2["per_world"] == v1["per_world"]


def test_big_plans_run_off_the_loop_with_the_same_answer(client: TestClient[Any]) -> None:
    n = INLINE_PLAN_POSITIONS
    positions = [pos("w", "s", f"S{i % 100}", 2.0, 10.0) for i in range(n)]
    body = request_json(
        world_alloc_before={"w": 0.5}, world_alloc_after={"w": 0.25}, positions=positions
    )
    plan = client.post(URL, json=body).json()
    assert plan["per_world"]["w"]["deltas"][0] == {"symbol": "S0", "delta_qty": -n / 100}
    assert len(plan["global_deltas"]) == 100
