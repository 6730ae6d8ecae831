"""The app factory: ``create_app(settings, container) -> Litestar`` mounting both services."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Router
from litestar.enums import ScopeType

from app import __version__
from app.container import Container, build_container
from app.runtime.lifecycle import running
from app.settings import Settings, load_settings
from app.web.access import AccessMiddleware
from app.web.access_control import AccessControlMiddleware
from app.web.api_admin import admin_router
from app.web.auth import warn_if_open, warn_legacy_tokens
from app.web.errors import exception_handlers
from app.web.metrics_endpoint import metrics_handler
from app.web.openapi import document_operations, openapi_assets_router, openapi_config
from app.web.request_id import RequestIdMiddleware
from app.web.websocket_token import BearerSubprotocolMiddleware
from app.web.websockets import WebSocketTrackingMiddleware

__all__ = ["create_app"]


def _routers(settings: Settings, container: Container) -> list[Router]:
    """The routers of the roles this process runs, each handed the services it uses."""
    routers: list[Router] = [
        admin_router(keyring=container.key_ring, audit_trail=container.audit_trail)
    ]
    roles = set(settings.server.roles)
    if "worldservice" in roles:
        from app.worldservice.api import worldservice_router

        routers.append(
            worldservice_router(
                planning=container.planning,
                applying=container.applying,
                allocations=container.allocations,
                capabilities=container.worldservice_capabilities(),
            )
        )
    if "gateway" in roles:
        from app.gateway.api import gateway_router

        routers.append(
            gateway_router(
                gateway_health=container.gateway_health,
                negotiating_client=container.negotiating_client,
                execution=container.execution,
                relay=container.relay,
                event_log=container.store,
                trading_states=container.trading_states,
                key_active=lambda key_id: container.key_ring().is_active(key_id),
            )
        )
        if settings.console.enabled:
            from app.console import console_router

            routers.append(
                console_router(
                    api_url=settings.console.api_url,
                    worldservice_url=settings.gateway.worldservice_url,
                )
            )
    return routers


def _lifespan(container: Container) -> Any:
    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        async with running(container.components()):
            yield

    return lifespan


def create_app(settings: Settings | None = None, container: Container | None = None) -> Litestar:
    """Build the Worldgate app.

    Args:
        settings: the configuration; ``load_settings()`` when None.
        container: a prepared container (tests override providers on it); built from
            ``settings`` when None.

    Returns:
        The Litestar application with WorldService at ``/worldservice`` and the Gateway at
        ``/``, OpenAPI at ``/schema``.
    """
    if container is None:
        settings = settings or load_settings()
        container = build_container(settings)
    else:
        settings = container.settings()
    access = AccessMiddleware(container.metrics())
    access_control = AccessControlMiddleware(
        container.key_ring(), container.audit_trail(), container.metrics()
    )

    def warn_about_keys() -> None:
        warn_legacy_tokens(settings)
        warn_if_open(settings, container.key_ring().enforcing)

    async def outbox_backlog() -> int:
        return int(await container.store().outbox_backlog())

    app = Litestar(
        route_handlers=[
            *_routers(settings, container),
            metrics_handler(container.metrics(), outbox_backlog),
            openapi_assets_router(),
        ],
        middleware=[
            BearerSubprotocolMiddleware(),
            # HTTP requests get their request id from the access middleware (one layer).
            RequestIdMiddleware(scopes=(ScopeType.WEBSOCKET,)),
            access,
            WebSocketTrackingMiddleware(container.drain()),
            access_control,
        ],
        before_send=[access.tag_unmatched],
        on_startup=[warn_about_keys],
        exception_handlers=exception_handlers(settings.server.max_body_bytes),
        openapi_config=openapi_config(__version__),
        lifespan=[_lifespan(container)],
        request_max_body_size=settings.server.max_body_bytes,
        # Logging is structlog's, configured once by the process (app.runtime.logging).
        logging_config=None,
    )
    document_operations(app)
    return app
