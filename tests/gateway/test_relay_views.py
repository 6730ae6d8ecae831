"""Unit tests of the pure parts of ``WS /events``: subscriptions, filters, views, dedupe."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from app.contracts.events import REBALANCING_ORDERS, REBALANCING_PLANNED, RISK
from app.gateway.event_views import (
    EventFrame,
    RecentIds,
    SubscriptionError,
    SubscriptionSpec,
    event_world_id,
    parse_subscription,
    subscription_from_message,
    subscription_from_query,
    view_event,
)
from tests.gateway.events_ws_support import orders_event, planned_event


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({}, SubscriptionSpec()),
        (
            {"topics": ["rebalancing_orders"]},
            SubscriptionSpec(topics=frozenset({REBALANCING_ORDERS})),
        ),
        (
            {"topics": ["rebalancing_orders,rebalancing_planned"]},
            SubscriptionSpec(topics=frozenset({REBALANCING_ORDERS, REBALANCING_PLANNED})),
        ),
        ({"topics": ["risk", "rebalancing_orders,rebalancing_planned"]}, SubscriptionSpec()),
        (
            {"topics": ["risk"], "world_id": ["a"]},
            SubscriptionSpec(topics=frozenset({RISK}), world_ids=frozenset({"a"})),
        ),
        ({"world_id": ["a", "b,c"]}, SubscriptionSpec(world_ids=frozenset({"a", "b", "c"}))),
        ({"schema_version": ["2"]}, SubscriptionSpec(schema_version=2)),
        ({"schema_version": [2], "since": [0]}, SubscriptionSpec(schema_version=2, since=0)),
        ({"since": [" 41 "]}, SubscriptionSpec(since=41)),
        ({"world_id": [""]}, SubscriptionSpec()),
    ],
)
def test_parse_subscription_accepts(raw: dict[str, list[Any]], expected: SubscriptionSpec) -> None:
    assert parse_subscription(raw) == expected


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ({"topics": ["policy"]}, "E_UNKNOWN_TOPIC"),
        ({"topics": ["rebalancing_planned,nope"]}, "E_UNKNOWN_TOPIC"),
        ({"schema_version": ["4"]}, "E_UNSUPPORTED_SCHEMA_VERSION"),
        ({"schema_version": ["two"]}, "E_BAD_SUBSCRIPTION"),
        ({"schema_version": [True]}, "E_BAD_SUBSCRIPTION"),
        ({"since": ["-1"]}, "E_BAD_SUBSCRIPTION"),
        ({"since": [1.5]}, "E_BAD_SUBSCRIPTION"),
        ({"world_id": [7]}, "E_BAD_SUBSCRIPTION"),
    ],
)
def test_parse_subscription_rejects(raw: dict[str, list[Any]], code: str) -> None:
    with pytest.raises(SubscriptionError) as info:
        parse_subscription(raw)
    assert info.value.code == code
    assert info.value.detail


def test_query_without_subscription_keys_is_none() -> None:
    assert subscription_from_query({"token": ["x"]}) is None
    assert subscription_from_query({"since": ["3"]}) == SubscriptionSpec(since=3)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"{}", SubscriptionSpec()),
        (
            b'{"type":"subscribe","topics":["rebalancing_planned"],"world_id":"w",'
            b'"schema_version":2,"since":5}',
            SubscriptionSpec(
                topics=frozenset({REBALANCING_PLANNED}),
                world_ids=frozenset({"w"}),
                schema_version=2,
                since=5,
            ),
        ),
        ('{"world_id": ["a", "b"], "since": null}', SubscriptionSpec(world_ids=frozenset("ab"))),
    ],
)
def test_subscription_from_message(payload: str | bytes, expected: SubscriptionSpec) -> None:
    assert subscription_from_message(payload) == expected


@pytest.mark.parametrize("payload", [b"{nope", b"[1]", b'{"type":"unsubscribe"}', b'"x"'])
def test_bad_messages_are_rejected(payload: bytes) -> None:
    with pytest.raises(SubscriptionError) as info:
        subscription_from_message(payload)
    assert info.value.code == "E_BAD_MESSAGE"


def test_matches_topic_and_world() -> None:
    spec = SubscriptionSpec(topics=frozenset({REBALANCING_ORDERS}), world_ids=frozenset({"a"}))
    assert spec.matches(REBALANCING_ORDERS, "a")
    assert not spec.matches(REBALANCING_ORDERS, "b")
    assert not spec.matches(REBALANCING_ORDERS, None)
    assert not spec.matches(REBALANCING_PLANNED, "a")
    assert SubscriptionSpec().matches(REBALANCING_PLANNED, None)


def test_world_id_comes_from_data_then_subject() -> None:
    event = planned_event("w1")
    assert event_world_id(event) == "w1"
    bare = msgspec.structs.replace(event, data={}, subject="w9")
    assert event_world_id(bare) == "w9"
    assert event_world_id(msgspec.structs.replace(bare, subject=None)) is None


def test_v1_view_strips_v2_fields_and_v2_view_is_unchanged() -> None:
    event = msgspec.structs.replace(planned_event("w1", v2=True), seq=12)
    v1 = msgspec.json.decode(view_event(event, 1))
    v2 = msgspec.json.decode(view_event(event, 2))
    assert v2 == msgspec.to_builtins(event)
    assert "alpha_metrics" in v2["data"] and "rebalance_intent" in v2["data"]
    assert "alpha_metrics" not in v1["data"]
    assert "rebalance_intent" not in v1["data"]
    assert v1["data"]["schema_version"] == 1
    assert (v1["data"]["version"], v2["data"]["version"]) == (1, 2)  # version = schema version
    assert v1["data"]["plan"] == event.data["plan"]  # the world's plan is the same in v1
    assert v1["seq"] == 12
    assert v1["id"] == event.id
    assert v1["data"]["idempotency_key"] == event.data["idempotency_key"]
    # The original event is untouched (frames are shared between clients).
    assert "alpha_metrics" in event.data


def test_v1_view_of_a_foreign_v2_payload_says_version_1() -> None:
    # A payload that does not match the planned type (no idempotency_key): read untyped.
    event = planned_event("w1", v2=True)
    foreign = msgspec.structs.replace(
        event, data={k: v for k, v in event.data.items() if k != "idempotency_key"}
    )
    v1 = msgspec.json.decode(view_event(foreign, 1))["data"]
    assert (v1["schema_version"], v1["version"]) == (1, 1)
    assert "alpha_metrics" not in v1
    assert msgspec.json.decode(view_event(foreign, 2))["data"]["version"] == 2


def test_v1_view_of_orders_event_keeps_its_data() -> None:
    event = orders_event("w1", counts={"total": 2, "reduce_only": 1})
    assert msgspec.json.decode(view_event(event, 1)) == msgspec.to_builtins(event)


def test_event_frame_caches_each_encoding() -> None:
    frame = EventFrame(planned_event("w1", v2=True))
    assert frame.encoded_bytes(1) is frame.encoded_bytes(1)
    assert frame.encoded_bytes(2) is frame.encoded_bytes(2)
    assert frame.encoded(1) != frame.encoded(2)
    assert frame.topic == REBALANCING_PLANNED and frame.world_id == "w1"


def test_recent_ids_window_forgets_oldest() -> None:
    window = RecentIds(3)
    assert [window.add(x) for x in "abca"] == [True, True, True, False]
    assert window.add("d")  # evicts "a"
    assert "a" not in window and len(window) == 3
    assert window.add("a")
    assert not window.add("d")


def _risk_event(world_id: str | None) -> Any:
    from app.contracts.events import EVENT_SOURCE_GATEWAY, RISK_STATE_CHANGED, RiskStatePayload
    from app.contracts.events import new_event as make

    payload = RiskStatePayload(
        scope="global" if world_id is None else "world", world_id=world_id, state="HALTED",
        previous_state="ACTIVE", reason="drill", actor="anonymous",
        updated_at="2026-11-30T00:00:00+00:00", etag="e1",
    )
    return make(RISK_STATE_CHANGED, EVENT_SOURCE_GATEWAY, payload, subject=world_id)


def test_risk_events_travel_on_topic_risk_and_global_ones_pass_world_filters() -> None:
    world, glob = EventFrame(_risk_event("a"), RISK), EventFrame(_risk_event(None), RISK)
    assert (world.topic, world.world_id) == (RISK, "a")
    assert glob.world_id is None
    only_b = SubscriptionSpec(topics=frozenset({RISK}), world_ids=frozenset({"b"}))
    assert not only_b.matches(world.topic, world.world_id)
    assert only_b.matches(glob.topic, glob.world_id)  # a global halt concerns every world
    assert not SubscriptionSpec(world_ids=frozenset({"b"})).matches(REBALANCING_ORDERS, None)
    # One layout for every reader version.
    decoded = msgspec.json.decode(world.encoded(1))
    assert decoded == msgspec.json.decode(world.encoded(2))
    assert decoded["type"] == "risk_state_changed"
    assert decoded["data"]["state"] == "HALTED" and decoded["data"]["world_id"] == "a"
    assert "world_id" not in msgspec.json.decode(glob.encoded(1))["data"]
