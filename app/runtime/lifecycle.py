"""Long-lived components as async context managers, entered on one ``AsyncExitStack``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from types import TracebackType
from typing import Any, Self

__all__ = ["Component", "running"]


class Component:
    """Base of every component the app runs: ``async with component:`` starts and closes it.

    Subclasses implement ``start`` (open resources, start background work, return once
    ready) and ``close`` (finish or cancel background work, release resources).
    """

    async def start(self) -> None:
        """Open resources and start background work; return once ready."""

    async def close(self) -> None:
        """Finish or cancel background work and release resources."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


@asynccontextmanager
async def running(components: Iterable[AbstractAsyncContextManager[Any]]) -> AsyncIterator[None]:
    """Enter ``components`` in order on one exit stack; they close in reverse order.

    A component that fails to start closes the ones started before it.
    """
    async with AsyncExitStack() as stack:
        for component in components:
            await stack.enter_async_context(component)
        yield
