"""Gateway HTTP controller, mounted at ``/``."""

from __future__ import annotations

from litestar import Router

from app.container import Container

__all__ = ["gateway_router"]


def gateway_router(container: Container) -> Router:
    """Build the Gateway router."""
    return Router(path="/", route_handlers=[])
