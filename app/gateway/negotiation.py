"""Schema-version negotiation with WorldService, shared by every client adapter."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

import msgspec
import structlog

from app.contracts.allocations import AllocationsReply
from app.contracts.rebalancing import ApplyRequest, PlanResponse, PlanV2, RebalanceRequest
from app.contracts.worldservice_client import WorldServiceClient, WorldServiceReply
from app.errors import AppError, Code

__all__ = [
    "RETRY_AS_V1_STATUSES",
    "NegotiatedPlan",
    "NegotiatingClient",
    "alpha_metrics_present",
    "requested_version",
]

log = structlog.get_logger(__name__)

RETRY_AS_V1_STATUSES: Final = frozenset({400, 404, 415, 422, 501})
"""WorldService answers to a v2+ request that make the Gateway retry once as v1."""

R = TypeVar("R", bound=RebalanceRequest)
_encoder = msgspec.json.Encoder()


class NegotiatedPlan(msgspec.Struct, frozen=True, kw_only=True):
    """A plan and how it was obtained.

    ``schema_version`` is the negotiated version (the answer's tag); ``requested`` what the
    first call asked for; ``fell_back`` whether the single v1 retry was used; ``replayed``
    whether an apply was answered from a stored run.
    """

    plan: PlanResponse
    content: bytes | None
    schema_version: int
    requested: int
    fell_back: bool
    replayed: bool = False

    def body(self) -> bytes:
        """The answer's JSON: WorldService's own bytes when known, else the plan encoded."""
        return self.content if self.content is not None else _encoder.encode(self.plan)


def requested_version(explicit: int | None, configured: int) -> int | None:
    """Return the ``schema_version`` to send: the configured one, or a lower explicit one.

    An explicit value below 1 is sent unchanged, so WorldService refuses it with its own 422.
    """
    if explicit is None:
        return configured
    if explicit >= 1:
        return min(explicit, configured)
    return explicit


def alpha_metrics_present(plan: PlanResponse) -> bool:
    """Return True when ``plan`` is v2 and carries at least one metrics entry."""
    if not isinstance(plan, PlanV2):
        return False
    return bool(plan.alpha_metrics.per_world or plan.alpha_metrics.per_strategy)


class NegotiatingClient:
    """Wraps a ``WorldServiceClient`` adapter with version negotiation and the v1 retry.

    Args:
        client: the adapter (in-process or HTTP).
        configured_version: ``gateway.rebalance_schema_version``.
    """

    def __init__(self, client: WorldServiceClient, configured_version: int) -> None:
        self.client = client
        self.configured_version = configured_version

    async def plan(self, request: RebalanceRequest) -> NegotiatedPlan:
        """Ask WorldService for a plan of ``request`` at the negotiated version."""
        return await self._call(self.client.plan, request)

    async def apply(self, request: ApplyRequest) -> NegotiatedPlan:
        """Ask WorldService to apply ``request`` at the negotiated version."""
        return await self._call(self.client.apply, request)

    async def allocations(self, world_id: str | None = None) -> AllocationsReply:
        """Read WorldService's stored allocations (a read carries no schema version)."""
        return await self.client.allocations(world_id)

    async def _call(
        self, send: Callable[[R], Awaitable[WorldServiceReply]], request: R
    ) -> NegotiatedPlan:
        version = requested_version(request.schema_version, self.configured_version)
        try:
            reply = await send(msgspec.structs.replace(request, schema_version=version))
            fell_back = False
        except AppError as exc:
            retry = version is not None and version > 1
            if not (retry and exc.status in RETRY_AS_V1_STATUSES):
                raise
            log.info("worldservice_v1_retry", status=exc.status, code=exc.code, sent=version)
            try:
                reply = await send(msgspec.structs.replace(request, schema_version=None))
            except AppError as retry_exc:
                # A v1 refusal because v2 is required says nothing new: report the first error.
                if retry_exc.code == Code.SCHEMA_VERSION_REQUIRED:
                    raise exc from retry_exc
                raise
            fell_back = True
        return NegotiatedPlan(
            plan=reply.plan,
            content=reply.content,
            schema_version=2 if isinstance(reply.plan, PlanV2) else 1,
            requested=version if version is not None and version >= 1 else 1,
            fell_back=fell_back,
            replayed=reply.replayed,
        )
