"""Gateway HTTP controller, mounted at ``/``."""

from __future__ import annotations

from litestar import Router
from litestar.di import Provide

from app.container import Container
from app.gateway.api_health import HEALTH_HANDLERS
from app.gateway.api_rebalancing import REBALANCING_HANDLERS

__all__ = ["gateway_router"]


def gateway_router(container: Container) -> Router:
    """Build the Gateway router."""
    from app.gateway.events_ws import events_ws_route

    return Router(
        path="/",
        route_handlers=[*HEALTH_HANDLERS, *REBALANCING_HANDLERS, events_ws_route(container)],
        dependencies={
            "gateway_health": Provide(lambda: container.gateway_health(), sync_to_thread=False),
            "negotiating_client": Provide(
                lambda: container.negotiating_client(), sync_to_thread=False
            ),
            "execution": Provide(lambda: container.execution(), sync_to_thread=False),
        },
    )
