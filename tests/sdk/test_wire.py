"""Unit tests of the SDK's sans-I/O core: health bits, plan decoding, calls and answers."""

from __future__ import annotations

import math

import httpx
import msgspec
import pytest

from app.contracts.plan_reading import read_plan_bytes
from app.contracts.rebalancing import PlanV1, PlanV2, PositionSlice, RebalanceRequest
from app.metrics.alpha import METRIC_KEYS
from app.sdk import calls
from app.sdk.errors import (
    ConflictError,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    ProtocolError,
    SchemaVersionRequired,
    ServerError,
    WorldgateError,
    error_from_response,
)
from app.sdk.samples import sample_request
from app.sdk.wire import decode_event, decode_plan, encode_request, parse_health
from tests.gateway.servers import qmtl_sample


def test_health_reads_top_level_bits_first() -> None:
    health = parse_health({
        "status": "ok", "rebalance_schema_version": 2, "alpha_metrics_capable": True,
        "capabilities": {"rebalance_schema_version": 1, "alpha_metrics_capable": False},
        "worldservice_max_schema_version": 2,
    })
    assert (health.rebalance_schema_version, health.alpha_metrics_capable) == (2, True)
    assert health.worldservice_max_schema_version == 2


def test_health_falls_back_to_capabilities_and_defaults() -> None:
    nested = parse_health({"status": "degraded", "capabilities": {
        "rebalance_schema_version": 2, "alpha_metrics_capable": True,
        "compute_context_contract": "v1"}})
    assert nested.rebalance_schema_version == 2 and nested.alpha_metrics_capable
    assert nested.compute_context_contract == "v1" and nested.status == "degraded"
    empty = parse_health({"alpha_metrics_capable": "yes", "rebalance_schema_version": "2"})
    assert (empty.rebalance_schema_version, empty.alpha_metrics_capable) == (1, False)
    assert parse_health([1, 2]).status == "unknown"


def _plan_body(**extra: object) -> dict[str, object]:
    return {"per_world": {"w1": {"world_id": "w1", "scale_world": 0.5,
                                 "scale_by_strategy": {"s": 0.5},
                                 "deltas": [{"symbol": "BTC", "delta_qty": -1.0}]}},
            "global_deltas": [{"symbol": "BTC", "delta_qty": -1.0}], **extra}


def test_decode_plan_v1_without_tag_and_ignores_v2_fields() -> None:
    plan = decode_plan(_plan_body(alpha_metrics={"per_world": {}}, unknown="x"))
    assert isinstance(plan, PlanV1)
    assert plan.per_world["w1"].deltas[0].delta_qty == -1.0


def test_decode_plan_v2_sanitises_metrics() -> None:
    body = _plan_body(schema_version=2, alpha_metrics={
        "per_world": {"w1": {"alpha_performance.sharpe": None,
                             "alpha_performance.win_ratio": 0.5, "other": 3}},
        "per_strategy": {"s": {"w1": {"alpha_performance.max_drawdown": "bad"}}},
    })
    plan = decode_plan(body)
    assert isinstance(plan, PlanV2)
    world = plan.alpha_metrics.per_world["w1"]
    assert set(world) == set(METRIC_KEYS)
    assert world["alpha_performance.sharpe"] == 0.0
    assert world["alpha_performance.win_ratio"] == 0.5
    assert plan.alpha_metrics.per_strategy["s"]["w1"]["alpha_performance.max_drawdown"] == 0.0
    assert plan.rebalance_intent.meta == {}


@pytest.mark.parametrize(
    "sample", ["plan_v1_untagged", "plan_v2_no_envelopes", "plan_keyed_worlds"]
)
def test_decode_plan_reads_qmtl_samples_like_the_gateway(sample: str) -> None:
    # One lenient reader: the SDK and the Gateway read a QMTL plan to the same typed plan.
    raw = qmtl_sample(sample)
    plan = decode_plan(msgspec.json.decode(raw))
    assert plan == read_plan_bytes(raw)
    assert all(world.world_id == key for key, world in plan.per_world.items())


def test_decode_plan_rejects_non_plans() -> None:
    with pytest.raises(ProtocolError):
        decode_plan([1])
    with pytest.raises(ProtocolError):
        decode_plan({"schema_version": 1, "per_world": 3})


def test_encode_request_leaves_out_unset_fields() -> None:
    req = RebalanceRequest(total_equity=1.0, world_alloc_before={"w": 1.0},
                           world_alloc_after={"w": 0.5},
                           positions=[PositionSlice(world_id="w", strategy_id="s", symbol="X",
                                                    qty=1.0, mark=1.0)])
    body = msgspec.json.decode(encode_request(req, run_id=None))
    assert "schema_version" not in body and "run_id" not in body
    assert body["world_alloc_after"] == {"w": 0.5}
    body2 = msgspec.json.decode(encode_request({"a": 1, "b": None}, run_id="r1"))
    assert body2 == {"a": 1, "run_id": "r1"}


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [(422, "E_VALIDATION", InvalidRequest), (400, "E_SCHEMA_VERSION_REQUIRED",
                                              SchemaVersionRequired),
     (403, "E_PERMISSION_DENIED", PermissionDenied), (409, "E_RUN_ID_CONFLICT", ConflictError),
     (503, "E_SERVICE_UNAVAILABLE", ServerError), (418, "E_TEAPOT", WorldgateError)],
)
def test_error_from_response_types(status: int, code: str, cls: type[WorldgateError]) -> None:
    exc = error_from_response(status, {"status": status, "code": code, "detail": "no",
                                       "errors": [{"path": "$.x", "message": "bad"}]})
    assert type(exc) is cls
    assert (exc.status, exc.code, exc.detail) == (status, code, "no")
    assert exc.errors == [{"path": "$.x", "message": "bad"}]


def test_error_from_non_json_body() -> None:
    exc = error_from_response(502, None, "bad gateway\n")
    assert isinstance(exc, ServerError)
    assert (exc.code, exc.detail) == ("E_HTTP_502", "bad gateway")


def test_decode_event_skips_control_frames() -> None:
    assert decode_event(b'{"type": "subscribed", "topics": []}') is None
    assert decode_event(b"not json") is None
    event = decode_event(msgspec.json.encode({
        "specversion": "1.0", "id": "e1", "source": "s", "type": "rebalancing_planned", "time": "t",
        "data": {"world_id": "w"}, "seq": 7, "extra": math.pi}))
    assert event is not None and event.seq == 7 and event.data == {"world_id": "w"}


def test_stream_frames_tell_events_from_control_frames() -> None:
    from app.sdk.errors import StreamError
    from app.sdk.events import _Frames

    frames = _Frames()
    assert frames.take(b'{"type": "subscribed", "topics": ["rebalancing_planned"]}') is None
    assert frames.subscribed is not None
    assert frames.take(b'{"type": "gap", "missed_from": 1, "missed_to": 3}') is None
    assert frames.notices == [{"type": "gap", "missed_from": 1, "missed_to": 3}]
    event = frames.take(b'{"specversion": "1.0", "id": "e", "source": "s", '
                        b'"type": "rebalancing_planned", '
                        b'"time": "t", "data": {}, "seq": 4}')
    assert event is not None and frames.last_seq == 4
    with pytest.raises(StreamError) as info:
        frames.take(b'{"type": "error", "code": "E_BAD_SUBSCRIPTION", "detail": "no"}')
    assert info.value.code == "E_BAD_SUBSCRIPTION"


def _answer(status: int, content: bytes) -> httpx.Response:
    # A real answer object, built without any I/O: the core only reads it.
    return httpx.Response(status, content=content,
                          request=httpx.Request("POST", "http://gw/rebalancing/plan"))


def test_calls_build_the_execute_request_without_io() -> None:
    call = calls.execute(sample_request(), submit=True, shared_account=False,
                         per_strategy=True, allow_live=True)
    assert (call.method, call.url) == ("POST", "/rebalancing/execute")
    assert call.params == {"submit": "true", "per_strategy": "true"}
    assert call.headers == {"content-type": "application/json", "x-allow-live": "true"}
    assert call.content is not None and "schema_version" not in msgspec.json.decode(call.content)
    dry = calls.execute(sample_request(), submit=False, shared_account=False,
                        per_strategy=False, allow_live=False)
    assert dry.params == {} and dry.headers == {"content-type": "application/json"}
    assert call.finish(_answer(200, b"[1]")) == {"result": [1]}


def test_calls_apply_carries_the_run_id_and_parses_a_plan() -> None:
    call = calls.apply(sample_request(), "run-7").then(decode_plan)
    assert call.content is not None and msgspec.json.decode(call.content)["run_id"] == "run-7"
    plan = call.finish(_answer(200, msgspec.json.encode(_plan_body(schema_version=1))))
    assert isinstance(plan, PlanV1)


@pytest.mark.parametrize(
    ("status", "content", "cls", "code", "detail"),
    [(404, b'{"status": 404, "code": "E_NOT_FOUND", "detail": "gone"}', NotFound,
      "E_NOT_FOUND", "gone"),
     (503, b"upstream down", ServerError, "E_HTTP_503", "upstream down"),
     (400, b'{"code": "E_SCHEMA_VERSION_REQUIRED", "detail": "v2 only"}',
      SchemaVersionRequired, "E_SCHEMA_VERSION_REQUIRED", "v2 only")],
)
def test_calls_map_error_answers_to_typed_errors(
    status: int, content: bytes, cls: type[WorldgateError], code: str, detail: str,
) -> None:
    with pytest.raises(cls) as info:
        calls.plan(sample_request()).finish(_answer(status, content))
    assert (info.value.status, info.value.code, info.value.detail) == (status, code, detail)


def test_calls_reject_a_non_json_success() -> None:
    with pytest.raises(ProtocolError, match="http://gw/rebalancing/plan answered 200"):
        calls.health().finish(_answer(200, b"<html>"))
    assert calls.health().finish(_answer(200, b"[]")) == {}
    assert calls.plan(sample_request()).finish(_answer(200, b"")) is None
