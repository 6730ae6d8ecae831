"""The Gateway's view of WorldService: one port, an in-process and an HTTP adapter."""

from __future__ import annotations

from typing import Protocol

import msgspec

from app.contracts.allocations import AllocationsReply
from app.contracts.rebalancing import ApplyRequest, PlanResponse, RebalanceRequest

__all__ = ["WorldServiceCapabilities", "WorldServiceClient", "WorldServiceReply"]


class WorldServiceCapabilities(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """What a WorldService serves (``GET /worldservice/capabilities``).

    ``compat_rebalance_v3`` is sent only when on, so a WorldService without v3 answers
    exactly what it answered before v3 existed (and an older one reads as "off").
    """

    max_schema_version: int
    compat_rebalance_v2: bool
    alpha_metrics_required: bool
    compat_rebalance_v3: bool = False


class WorldServiceReply(msgspec.Struct, frozen=True, kw_only=True):
    """A successful WorldService answer.

    Attributes:
        plan: the answer, typed.
        content: the JSON body to answer, when the adapter has it: an applied plan's stored
            bytes in process, the normalised plan over HTTP (a peer's answer is read
            leniently and re-encoded); None means "encode ``plan``".
        replayed: an apply answered from a stored run (an idempotent retry).
    """

    plan: PlanResponse
    content: bytes | None = None
    replayed: bool = False


class WorldServiceClient(Protocol):
    """Calls WorldService's rebalancing endpoints with a typed request.

    Adapters send the request as given (the Gateway's negotiation decides
    ``schema_version``) and answer exactly what ``POST /worldservice/...`` would: a
    WorldService refusal arrives as ``AppError`` with WorldService's status, code, detail and
    errors; a transport failure as ``AppError`` 503 (cannot connect) or 504 (timed out) with
    code ``E_WORLDSERVICE_UNAVAILABLE``.
    """

    async def plan(self, request: RebalanceRequest) -> WorldServiceReply:
        """``POST /worldservice/rebalancing/plan``."""
        ...

    async def apply(self, request: ApplyRequest) -> WorldServiceReply:
        """``POST /worldservice/rebalancing/apply``."""
        ...

    async def allocations(
        self, world_id: str | None = None, *, limit: int | None = None,
        cursor: str | None = None,
    ) -> AllocationsReply:
        """``GET /worldservice/allocations[?world_id=][&limit=&cursor=]`` (404 and 422
        pass through; ``cursor`` is WorldService's, passed on unchanged)."""
        ...

    async def capabilities(self) -> WorldServiceCapabilities:
        """``GET /worldservice/capabilities``."""
        ...

    async def ping(self) -> bool:
        """Return True when WorldService answers (health probes)."""
        ...
