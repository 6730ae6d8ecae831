"""Helpers for the ``WS /events`` tests: event factories, store writes, an app under test."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import uvicorn
from litestar.testing import TestClient

from app.container import Container, build_container
from app.contracts.events import REBALANCING_ORDERS, REBALANCING_PLANNED, CloudEvent, new_event
from app.controlbus.ports import ControlBus
from app.main import create_app
from app.runtime.serving import GracefulServer
from app.runtime.ws_protocol import CoalescingWebSocketProtocol
from app.settings import Settings
from app.store.ports import ExecutionRecord, Store
from app.testing import ThreadedServer

__all__ = [
    "RECEIVE_TIMEOUT",
    "LiveServer",
    "WsApp",
    "events_only",
    "live_server",
    "orders_event",
    "planned_event",
    "ws_app",
]

RECEIVE_TIMEOUT = 10.0


def planned_event(world_id: str, *, v2: bool = False, **extra: Any) -> CloudEvent:
    """A ``rebalancing_planned`` event; with ``v2`` it carries the v2-only fields."""
    plan: dict[str, Any] = {
        "world_id": world_id, "scale_world": 0.5, "scale_by_strategy": {"s": 0.5}, "deltas": []
    }
    data: dict[str, Any] = {
        "world_id": world_id,
        "plan": plan,
        "version": 2 if v2 else 1,  # data.version repeats the schema version
        "schema_version": 2 if v2 else 1,
        "idempotency_key": uuid.uuid4().hex,
        **extra,
    }
    if v2:
        metrics = {"per_world": {world_id: {"alpha_performance.sharpe": 1.5}}, "per_strategy": {}}
        intent = {"meta": {"ticket": "T-1"}}
        data.update(alpha_metrics=metrics, rebalance_intent=intent)
    return new_event(REBALANCING_PLANNED, "worldgate/worldservice", data, subject=world_id)


def orders_event(world_id: str, **extra: Any) -> CloudEvent:
    """A ``rebalancing_orders`` event for ``world_id``."""
    data = {"execution_id": uuid.uuid4().hex, "world_id": world_id, "orders": [], **extra}
    return new_event(REBALANCING_ORDERS, "worldgate/gateway", data, subject=world_id)


def _execution() -> ExecutionRecord:
    """A minimal execution record to append events with."""
    return ExecutionRecord(
        execution_id=uuid.uuid4().hex,
        request_hash="h",
        response=b"{}",
        batch_ids=[],
        world_ids=[],
        created_at=time.time(),
    )


async def _flush_outbox(store: Store, bus: ControlBus) -> None:
    """Publish every unpublished stored event on the bus (with its ``seq``), as the outbox
    publisher does."""
    claimed = await store.claim_unpublished(100_000, 30.0, "test-outbox")
    for stored in claimed:
        await bus.publish(stored.topic, stored.event)
    await store.mark_published([s.seq for s in claimed], "test-outbox")


class WsApp:
    """An app under a Litestar TestClient, with direct access to its store and bus."""

    def __init__(self, client: TestClient[Any], container: Container) -> None:
        self.client = client
        self.container = container

    @property
    def store(self) -> Store:
        return self.container.store()  # type: ignore[no-any-return]

    @property
    def bus(self) -> ControlBus:
        return self.container.controlbus()  # type: ignore[no-any-return]

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run an async callable on the app's event loop."""
        return self.client.blocking_portal.call(fn, *args)

    def publish(self, *events: CloudEvent) -> None:
        """Publish events straight on the bus (no store, no ``seq``)."""
        for event in events:
            self.call(self.bus.publish, event.type, event)

    def store_events(self, *events: CloudEvent) -> None:
        """Append events to the store's event log (the outbox) in one transaction."""
        self.call(self.store.save_execution, _execution(), list(events))

    def flush_outbox(self) -> None:
        """Publish every unpublished stored event on the bus (with its ``seq``), as the
        outbox publisher does."""

        self.call(_flush_outbox, self.store, self.bus)

    def emit(self, *events: CloudEvent) -> None:
        """Store events and publish them (the apply path: outbox, then bus)."""
        self.store_events(*events)
        self.flush_outbox()


@contextmanager
def ws_app(settings: Settings) -> Iterator[WsApp]:
    """Start the app for ``settings`` (lifespan included) and yield a ``WsApp``."""
    container = build_container(settings)
    with TestClient(create_app(container=container)) as client:
        yield WsApp(client, container)


def events_only(messages: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop control messages (they have no ``id``)."""
    return [m for m in messages if "id" in m]


class LiveServer(ThreadedServer):
    """The app under a real uvicorn server (``GracefulServer``) on a loopback port, in a
    thread with its own event loop; ``url`` is its WebSocket base URL."""

    def __init__(self, settings: Settings) -> None:
        self.container = build_container(settings)
        config = uvicorn.Config(
            create_app(container=self.container),
            log_config=None,
            access_log=False,
            lifespan="on",
            ws=CoalescingWebSocketProtocol,  # as `worldgate serve` runs it
        )
        super().__init__(GracefulServer(config, self.container.drain(), grace_seconds=5.0))
        self.url = self.ws_url

    def call(self, fn: Callable[..., Awaitable[Any]], *args: Any, timeout: float = 0) -> Any:
        """Run an async callable on the server's loop and wait for its result."""
        return super().call(fn, *args, timeout=timeout or RECEIVE_TIMEOUT)

    def publish(self, *events: CloudEvent) -> None:
        """Publish events straight on the server's bus."""
        bus = self.container.controlbus()
        for event in events:
            self.call(bus.publish, event.type, event)

    def emit(self, *events: CloudEvent) -> None:
        """Store events, then publish them with their ``seq`` (outbox, then bus)."""
        store, bus = self.container.store(), self.container.controlbus()

        async def emit() -> None:
            await store.save_execution(_execution(), list(events))
            await _flush_outbox(store, bus)

        self.call(emit)


@contextmanager
def live_server(settings: Settings) -> Iterator[LiveServer]:
    """Run the app under uvicorn on 127.0.0.1 (a free port) for the duration."""
    server = LiveServer(settings)
    server.start()
    try:
        yield server
    finally:
        server.stop()
