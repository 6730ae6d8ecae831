"""Gateway HTTP controller, mounted at ``/``: the routes around the Gateway's services."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar import Router
from litestar.di import Provide

from app.gateway.api_health import HEALTH_HANDLERS
from app.gateway.api_rebalancing import REBALANCING_HANDLERS
from app.gateway.events_ws import events_ws_route
from app.gateway.execution import ExecutionService
from app.gateway.health import GatewayHealth
from app.gateway.negotiation import NegotiatingClient
from app.gateway.relay import EventRelay
from app.store.ports import EventLog

__all__ = ["gateway_router"]


def gateway_router(
    *,
    gateway_health: Callable[[], GatewayHealth],
    negotiating_client: Callable[[], NegotiatingClient],
    execution: Callable[[], ExecutionService],
    relay: Callable[[], EventRelay],
    event_log: Callable[[], EventLog],
) -> Router:
    """Build the Gateway router around the services it serves.

    Args:
        gateway_health: gives the health/status/readiness service.
        negotiating_client: gives the WorldService client with version negotiation.
        execution: gives the execute use case.
        relay: gives the ControlBus → WebSocket relay.
        event_log: gives the store's event log (resume from ``since``).
    """
    dependencies: dict[str, Any] = {
        # Lambdas: Litestar reads a provider's signature, a DI provider has none.
        "gateway_health": Provide(lambda: gateway_health(), sync_to_thread=False),
        "negotiating_client": Provide(lambda: negotiating_client(), sync_to_thread=False),
        "execution": Provide(lambda: execution(), sync_to_thread=False),
    }
    return Router(
        path="/",
        route_handlers=[*HEALTH_HANDLERS, *REBALANCING_HANDLERS, events_ws_route(relay, event_log)],
        dependencies=dependencies,
    )
