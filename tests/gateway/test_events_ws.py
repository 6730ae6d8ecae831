"""``WS /events`` over WebSocket connections to the app (Litestar TestClient, lifespan on)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from litestar.exceptions import WebSocketDisconnect
from litestar.testing.websocket_test_session import WebSocketTestSession

from app.settings import Settings
from tests.gateway.events_ws_support import (
    RECEIVE_TIMEOUT,
    WsApp,
    orders_event,
    planned_event,
    ws_app,
)

SettingsFactory = Callable[..., Settings]


def recv(ws: WebSocketTestSession) -> dict[str, Any]:
    message: dict[str, Any] = ws.receive_json(timeout=RECEIVE_TIMEOUT)
    return message


def subscribed(ws: WebSocketTestSession) -> dict[str, Any]:
    message = recv(ws)
    assert message["type"] == "subscribed", message
    return message


def recv_closed(ws: WebSocketTestSession) -> int:
    """Read until the server closes; return the close code."""
    with pytest.raises(WebSocketDisconnect) as info:
        for _ in range(100):
            ws.receive_json(timeout=RECEIVE_TIMEOUT)
    code: int = info.value.code
    return code


@pytest.fixture
def app(make_settings: SettingsFactory) -> Any:
    with ws_app(make_settings()) as running:
        yield running


def test_topic_filter(app: WsApp) -> None:
    with app.client.websocket_connect("/events?topics=rebalancing_orders") as ws:
        assert subscribed(ws)["topics"] == ["rebalancing_orders"]
        planned, orders = planned_event("w1"), orders_event("w1")
        app.publish(planned, orders)
        assert recv(ws)["id"] == orders.id


def test_world_filter_with_several_worlds(app: WsApp) -> None:
    with app.client.websocket_connect("/events?world_id=w1,w3&world_id=w4") as ws:
        assert subscribed(ws)["world_id"] == ["w1", "w3", "w4"]
        events = [planned_event(w) for w in ("w1", "w2", "w3", "w2", "w4")]
        app.publish(*events)
        got = [recv(ws)["data"]["world_id"] for _ in range(3)]
        assert got == ["w1", "w3", "w4"]


def test_v1_and_v2_clients_see_their_view_of_the_same_event(app: WsApp) -> None:
    with (
        app.client.websocket_connect("/events") as v1,
        app.client.websocket_connect("/events?schema_version=2") as v2,
    ):
        assert subscribed(v1)["schema_version"] == 1
        assert subscribed(v2)["schema_version"] == 2
        event = planned_event("w1", v2=True)
        app.emit(event)
        got1, got2 = recv(v1), recv(v2)
        assert got1["id"] == got2["id"] == event.id
        assert got1["seq"] == got2["seq"] and got1["seq"] >= 1
        assert got2["data"] == event.data
        assert "alpha_metrics" not in got1["data"] and "rebalance_intent" not in got1["data"]
        assert "alpha_metrics" not in got1["data"]["plan"]
        assert got1["data"]["schema_version"] == 1
        assert got1["data"]["idempotency_key"] == event.data["idempotency_key"]


def test_redelivered_event_reaches_a_client_once(app: WsApp) -> None:
    with app.client.websocket_connect("/events") as ws:
        subscribed(ws)
        event, after = planned_event("w1"), planned_event("w2")
        app.publish(event, event, after, event)
        assert recv(ws)["id"] == event.id
        assert recv(ws)["id"] == after.id
        app.publish(last := orders_event("w3"))
        assert recv(ws)["id"] == last.id


def test_resume_replays_exactly_the_missed_events(app: WsApp) -> None:
    first = [planned_event(f"w{i}") for i in range(3)]
    with app.client.websocket_connect("/events") as ws:
        subscribed(ws)
        app.emit(*first)
        seen = [recv(ws) for _ in first]
    assert [m["id"] for m in seen] == [e.id for e in first]
    last_seq = seen[-1]["seq"]
    missed = [planned_event("w7"), orders_event("w8")]
    app.emit(*missed)
    with app.client.websocket_connect(f"/events?since={last_seq}") as ws:
        assert subscribed(ws)["since"] == last_seq
        replayed = [recv(ws) for _ in missed]
        assert [m["id"] for m in replayed] == [e.id for e in missed]
        assert [m["seq"] for m in replayed] == [last_seq + 1, last_seq + 2]
        app.emit(live := planned_event("w9"))
        got = recv(ws)
        assert (got["id"], got["seq"]) == (live.id, last_seq + 3)


def test_resume_does_not_repeat_an_event_published_after_its_replay(app: WsApp) -> None:
    app.emit(planned_event("w0"))
    pending = planned_event("w1")
    app.store_events(pending)  # in the log, not yet on the bus
    with app.client.websocket_connect("/events?since=1") as ws:
        subscribed(ws)
        assert recv(ws)["id"] == pending.id  # replayed from the log
        app.flush_outbox()  # now published: must not arrive a second time
        app.emit(after := planned_event("w2"))
        assert recv(ws)["id"] == after.id


def test_resume_honours_filters(app: WsApp) -> None:
    app.emit(planned_event("a"), orders_event("a"), planned_event("b"), planned_event("a"))
    url = "/events?since=0&topics=rebalancing_planned&world_id=a&schema_version=2"
    with app.client.websocket_connect(url) as ws:
        subscribed(ws)
        got = [recv(ws) for _ in range(2)]
        assert [(m["type"], m["data"]["world_id"], m["seq"]) for m in got] == [
            ("rebalancing_planned", "a", 1),
            ("rebalancing_planned", "a", 4),
        ]


def test_since_older_than_retention_gets_a_gap_first(app: WsApp) -> None:
    events = [planned_event(f"w{i}") for i in range(5)]
    app.emit(*events)
    assert app.call(app.store.prune_events, 2, 3600.0) == 3
    oldest, latest = app.call(app.store.retained_range)
    assert (oldest, latest) == (4, 5)
    with app.client.websocket_connect("/events?since=1") as ws:
        subscribed(ws)
        gap = recv(ws)
        assert gap == {"type": "gap", "missed_from": 2, "missed_to": 3, "reason": "retention"}
        assert [recv(ws)["id"] for _ in range(2)] == [events[3].id, events[4].id]


def test_since_beyond_the_log_gets_live_events(app: WsApp) -> None:
    app.emit(planned_event("w0"))
    with app.client.websocket_connect("/events?since=500") as ws:  # e.g. the log was reset
        subscribed(ws)
        app.emit(live := planned_event("w1"))
        got = recv(ws)
        assert (got["id"], got["seq"]) == (live.id, 2)


def test_replay_failure_gets_an_error_frame_and_1011(app: WsApp) -> None:
    app.call(app.store.close)  # the event log is gone
    with app.client.websocket_connect("/events?since=0") as ws:
        subscribed(ws)
        assert recv(ws)["code"] == "E_REPLAY_FAILED"
        assert recv_closed(ws) == 1011
    app.call(app.store.start)  # so the app shuts down normally


def test_replay_is_bounded_by_replay_limit(make_settings: SettingsFactory) -> None:
    with ws_app(make_settings({"gateway": {"relay": {"replay_limit": 2}}})) as app:
        events = [planned_event(f"w{i}") for i in range(5)]
        app.emit(*events)
        with app.client.websocket_connect("/events?since=0") as ws:
            subscribed(ws)
            assert [recv(ws)["seq"] for _ in range(2)] == [1, 2]
            gap = recv(ws)
            assert gap == {
                "type": "gap",
                "missed_from": 3,
                "missed_to": 5,
                "reason": "replay_limit",
            }
            app.emit(live := orders_event("w1"))
            assert recv(ws)["id"] == live.id


def test_subscribe_with_a_first_message(app: WsApp) -> None:
    with app.client.websocket_connect("/events") as ws:
        subscribed(ws)
        ws.send_text('{"type": "subscribe", "topics": ["rebalancing_orders"], "world_id": "w2"}')
        ack = subscribed(ws)
        assert ack["topics"] == ["rebalancing_orders"] and ack["world_id"] == ["w2"]
        app.publish(planned_event("w2"), orders_event("w1"), wanted := orders_event("w2"))
        assert recv(ws)["id"] == wanted.id


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("topics=policy", "E_UNKNOWN_TOPIC"),
        ("schema_version=4", "E_UNSUPPORTED_SCHEMA_VERSION"),
        ("since=-4", "E_BAD_SUBSCRIPTION"),
        ("since=abc", "E_BAD_SUBSCRIPTION"),
    ],
)
def test_bad_subscription_gets_an_error_frame_and_1008(app: WsApp, query: str, code: str) -> None:
    with app.client.websocket_connect(f"/events?{query}") as ws:
        error = recv(ws)
        assert error["type"] == "error" and error["code"] == code and error["detail"]
        assert recv_closed(ws) == 1008


def test_bad_subscription_message_gets_an_error_frame_and_1008(app: WsApp) -> None:
    with app.client.websocket_connect("/events") as ws:
        subscribed(ws)
        ws.send_text('{"topics": ["nope"]}')
        assert recv(ws)["code"] == "E_UNKNOWN_TOPIC"
        assert recv_closed(ws) == 1008


@pytest.mark.parametrize("depth", [990, 5_000])
def test_deeply_nested_message_gets_an_error_frame_and_1008(app: WsApp, depth: int) -> None:
    with app.client.websocket_connect("/events") as ws:
        subscribed(ws)
        ws.send_text('{"topics": ' + "[" * depth + "]" * depth + "}")
        error = recv(ws)  # too deep to decode, or decoded and refused: never a 4500 close
        assert error["type"] == "error"
        assert error["code"] in ("E_BAD_MESSAGE", "E_BAD_SUBSCRIPTION")
        assert recv_closed(ws) == 1008


def test_oversized_client_message_closes_with_1009(make_settings: SettingsFactory) -> None:
    with ws_app(make_settings({"gateway": {"relay": {"max_message_bytes": 64}}})) as app:
        with app.client.websocket_connect("/events") as ws:
            subscribed(ws)
            ws.send_text(msgspec.json.encode({"world_id": "x" * 100}).decode())
            assert recv(ws)["code"] == "E_MESSAGE_TOO_BIG"
            assert recv_closed(ws) == 1009


def test_too_many_client_messages_close_with_1008(make_settings: SettingsFactory) -> None:
    # 0.001 messages/s: one message is allowed, the next one within ~17 minutes is not.
    overrides = {"gateway": {"relay": {"max_messages_per_second": 0.001}}}
    with ws_app(make_settings(overrides)) as app:
        with app.client.websocket_connect("/events") as ws:
            subscribed(ws)
            ws.send_text("{}")
            subscribed(ws)
            ws.send_text("{}")
            assert recv(ws)["code"] == "E_RATE_LIMITED"
            assert recv_closed(ws) == 1008


def test_drain_closes_clients_with_1001(app: WsApp) -> None:
    with app.client.websocket_connect("/events") as ws:
        subscribed(ws)
        app.call(app.container.drain().begin, 5.0)
        assert recv_closed(ws) == 1001


def test_app_shutdown_closes_clients_with_1001(make_settings: SettingsFactory) -> None:
    with ws_app(make_settings()) as app:
        relay = app.container.relay()
        session = app.client.websocket_connect("/events")
        ws = session.__enter__()
        subscribed(ws)
    # The lifespan shutdown (relay.stop) ran when the app above exited.
    assert relay.clients == 0
    assert recv_closed(ws) == 1001


def test_token_required_when_configured(make_settings: SettingsFactory) -> None:
    with ws_app(make_settings({"security": {"api_tokens": ["s3cret"]}})) as app:
        with pytest.raises(WebSocketDisconnect) as info:
            with app.client.websocket_connect("/events") as ws:
                recv(ws)
        assert info.value.code == 4401
        with pytest.raises(WebSocketDisconnect) as info:
            headers = {"Authorization": "Bearer wrong"}
            with app.client.websocket_connect("/events", headers=headers) as ws:
                recv(ws)
        assert info.value.code == 4401
        headers = {"Authorization": "Bearer s3cret"}
        with app.client.websocket_connect("/events", headers=headers) as ws:
            subscribed(ws)


def test_metrics_count_clients_and_relayed_events(app: WsApp) -> None:
    metrics = app.container.metrics()
    with app.client.websocket_connect("/events") as ws:
        subscribed(ws)
        assert "worldgate_websocket_clients 1.0" in metrics.render().decode()
        event = planned_event("w1")
        app.publish(event, event)
        assert recv(ws)["id"] == event.id
        app.publish(end := planned_event("w2"))
        assert recv(ws)["id"] == end.id
    text = metrics.render().decode()
    assert 'worldgate_events_dropped_total{reason="duplicate"} 1.0' in text
    assert "worldgate_events_relayed_total 2.0" in text
