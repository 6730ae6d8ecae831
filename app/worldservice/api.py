"""WorldService HTTP controller, mounted at ``/worldservice``."""

from __future__ import annotations

from litestar import Router

from app.container import Container

__all__ = ["worldservice_router"]


def worldservice_router(container: Container) -> Router:
    """Build the ``/worldservice`` router."""
    return Router(path="/worldservice", route_handlers=[])
