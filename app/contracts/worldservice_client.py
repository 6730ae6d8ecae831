"""The Gateway's view of WorldService: one port, an in-process and an HTTP adapter."""

from __future__ import annotations

from typing import Any, Protocol

import msgspec

__all__ = ["WorldServiceCapabilities", "WorldServiceClient", "WorldServiceReply"]


class WorldServiceCapabilities(msgspec.Struct, frozen=True, kw_only=True):
    """What a WorldService serves (``GET /worldservice/capabilities``)."""

    max_schema_version: int
    compat_rebalance_v2: bool
    alpha_metrics_required: bool


class WorldServiceReply(msgspec.Struct, frozen=True, kw_only=True):
    """A successful WorldService answer: the JSON body exactly as WorldService encoded it."""

    content: bytes


class WorldServiceClient(Protocol):
    """Calls WorldService's rebalancing endpoints with a raw JSON body (a decoded dict).

    Adapters send the body as given (the Gateway's negotiation decides ``schema_version``).
    A WorldService error arrives as ``AppError`` with WorldService's status, code, detail and
    errors; a transport failure as ``AppError`` 503 (cannot connect) or 504 (timed out) with
    code ``E_WORLDSERVICE_UNAVAILABLE``.
    """

    async def plan(self, body: dict[str, Any]) -> WorldServiceReply:
        """``POST /worldservice/rebalancing/plan``."""
        ...

    async def apply(self, body: dict[str, Any]) -> WorldServiceReply:
        """``POST /worldservice/rebalancing/apply``."""
        ...

    async def capabilities(self) -> WorldServiceCapabilities:
        """``GET /worldservice/capabilities``."""
        ...

    async def ping(self) -> bool:
        """Return True when WorldService answers (health probes)."""
        ...
