"""The start/stop protocol of long-lived components run by the app lifespan."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["Lifecycle"]


@runtime_checkable
class Lifecycle(Protocol):
    """A component the app lifespan starts in order and stops in reverse order."""

    async def start(self) -> None:
        """Open resources and start background work; return once ready."""
        ...

    async def stop(self) -> None:
        """Finish or cancel background work and release resources."""
        ...
