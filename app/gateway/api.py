"""Gateway HTTP controller, mounted at ``/``: the routes around the Gateway's services."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar import Request, Router
from litestar.di import Provide

from app.gateway.api_health import HEALTH_HANDLERS
from app.gateway.api_rebalancing import REBALANCING_HANDLERS
from app.gateway.api_risk import RISK_HANDLERS
from app.gateway.events_ws import events_ws_route
from app.gateway.execution import ExecutionService
from app.gateway.health import GatewayHealth
from app.gateway.negotiation import NegotiatingClient
from app.gateway.relay import EventRelay
from app.gateway.trading_states import TradingStates
from app.store.ports import EventLog
from app.web.auth import actor_of

__all__ = ["gateway_router"]


def gateway_router(
    *,
    gateway_health: Callable[[], GatewayHealth],
    negotiating_client: Callable[[], NegotiatingClient],
    execution: Callable[[], ExecutionService],
    relay: Callable[[], EventRelay],
    event_log: Callable[[], EventLog],
    trading_states: Callable[[], TradingStates],
    key_active: Callable[[str | None], bool] = lambda _: True,
) -> Router:
    """Build the Gateway router around the services it serves.

    Args:
        gateway_health: gives the health/status/readiness service.
        negotiating_client: gives the WorldService client with version negotiation.
        execution: gives the execute use case.
        relay: gives the ControlBus → WebSocket relay.
        event_log: gives the store's event log (resume from ``since``).
        trading_states: gives the trading-state use cases.
        key_active: says whether an API key id is still valid (``WS /events`` closes a
            connection whose key was revoked).
    """

    def actor(request: Request[Any, Any, Any]) -> str:
        return actor_of(request)

    dependencies: dict[str, Any] = {
        # Lambdas: Litestar reads a provider's signature, a DI provider has none.
        "gateway_health": Provide(lambda: gateway_health(), sync_to_thread=False),
        "negotiating_client": Provide(lambda: negotiating_client(), sync_to_thread=False),
        "execution": Provide(lambda: execution(), sync_to_thread=False),
        "trading_states": Provide(lambda: trading_states(), sync_to_thread=False),
        "actor": Provide(actor, sync_to_thread=False),
    }
    return Router(
        path="/",
        route_handlers=[
            *HEALTH_HANDLERS,
            *REBALANCING_HANDLERS,
            *RISK_HANDLERS,
            events_ws_route(relay, event_log, key_active),
        ],
        dependencies=dependencies,
    )
