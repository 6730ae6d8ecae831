"""The composition root: the only module that names concrete adapters.

Adapters are imported inside small factory functions, so a process only loads the code of
the adapters and roles its configuration selects (a gateway-only process never imports
WorldService).
"""

from __future__ import annotations

from dependency_injector import containers, providers

from app.settings import Settings

__all__ = ["Container", "build_container"]


class Container(containers.DeclarativeContainer):
    """Providers for every component; tests override them with real in-memory fakes."""

    settings = providers.Dependency(instance_of=Settings)

    # Components with a start/stop lifecycle, in start order (stopped in reverse).
    lifecycle = providers.List()


def build_container(settings: Settings) -> Container:
    """Create the container for ``settings``."""
    container = Container(settings=settings)
    return container
