"""The app factory: ``create_app(settings, container) -> Litestar`` mounting both services."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Router
from litestar.openapi import OpenAPIConfig

from app import __version__
from app.container import Container, build_container
from app.web.errors import exception_handlers
from app.runtime.lifecycle import Lifecycle
from app.web.limits import body_limit_handlers
from app.web.metrics_endpoint import metrics_handler, store_backlog
from app.web.middleware import RequestContextMiddleware
from app.web.auth import token_guard, warn_if_open
from app.settings import Settings, load_settings

__all__ = ["create_app"]


def _routers(settings: Settings, container: Container) -> list[Router]:
    routers: list[Router] = []
    roles = set(settings.server.roles)
    if "worldservice" in roles:
        from app.worldservice.api import worldservice_router

        routers.append(worldservice_router(container))
    if "gateway" in roles:
        from app.gateway.api import gateway_router

        routers.append(gateway_router(container))
    return routers


def _lifespan(container: Container) -> Any:
    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        started: list[Lifecycle] = []
        try:
            for component in container.lifecycle():
                await component.start()
                started.append(component)
            yield
        finally:
            for component in reversed(started):
                await component.stop()

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
    request_context = RequestContextMiddleware(container.metrics(), container.drain())
    return Litestar(
        route_handlers=[
            *_routers(settings, container),
            metrics_handler(container.metrics(), store_backlog(container)),
        ],
        middleware=[request_context],
        before_send=[request_context.tag_unmatched],
        on_startup=[lambda: warn_if_open(settings)],
        exception_handlers={
            **exception_handlers,
            **body_limit_handlers(settings.server.max_body_bytes),
        },
        openapi_config=OpenAPIConfig(title="Worldgate", version=__version__, path="/schema"),
        lifespan=[_lifespan(container)],
        guards=[token_guard(settings.security.api_tokens)],
        request_max_body_size=settings.server.max_body_bytes,
        # Logging is structlog's, configured once by the process (app.runtime.logging).
        logging_config=None,
    )
