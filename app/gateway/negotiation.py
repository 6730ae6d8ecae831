"""Schema-version negotiation with WorldService, shared by every client adapter."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

import msgspec
import structlog

from app.contracts.allocations import AllocationsReply
from app.contracts.rebalancing import (
    POLICY_SCHEMA_VERSION,
    ApplyRequest,
    PlanResponse,
    PlanV2,
    RebalanceRequest,
    schema_version_of,
)
from app.contracts.worldservice_client import WorldServiceClient, WorldServiceReply
from app.errors import AppError, Code, PolicyRequiresV3Error

__all__ = [
    "NO_RETRY_CODES",
    "RETRY_LOWER_STATUSES",
    "NegotiatedPlan",
    "NegotiatingClient",
    "alpha_metrics_present",
    "requested_version",
]

log = structlog.get_logger(__name__)

RETRY_LOWER_STATUSES: Final = frozenset({400, 404, 415, 422, 501})
"""WorldService answers to a v2+ request that make the Gateway retry once at the next lower
version (3 → 2 → 1)."""

NO_RETRY_CODES: Final = frozenset({Code.SCHEMA_VERSION_REQUIRED, Code.POLICY_REQUIRES_V3})
"""Refusals that a lower version cannot cure: they are never retried, and met after a
retry they say nothing new (the refusal that caused the retry is reported)."""

R = TypeVar("R", bound=RebalanceRequest)
_encoder = msgspec.json.Encoder()


class NegotiatedPlan(msgspec.Struct, frozen=True, kw_only=True):
    """A plan and how it was obtained.

    ``schema_version`` is the negotiated version (the answer's tag); ``requested`` what the
    first call asked for; ``fell_back`` whether a retry at a lower version was used;
    ``replayed`` whether an apply was answered from a stored run.
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
    """Return True when ``plan`` is v2 or later and carries at least one metrics entry."""
    if not isinstance(plan, PlanV2):
        return False
    return bool(plan.alpha_metrics.per_world or plan.alpha_metrics.per_strategy)


def _policy_ignored(version: int) -> PolicyRequiresV3Error:
    """A WorldService answered a request with a policy below v3 (one that does not know the
    policy ignores it): the Gateway refuses rather than return a plan without it."""
    return PolicyRequiresV3Error(
        f"The request carries a rebalancing policy, which needs schema_version "
        f"{POLICY_SCHEMA_VERSION}, but WorldService answered schema_version {version}.",
        errors=[{"path": "$.policy",
                 "message": f"needs schema_version >= {POLICY_SCHEMA_VERSION}"}],
        extra={"negotiated_schema_version": version,
               "required_schema_version": POLICY_SCHEMA_VERSION},
    )


class NegotiatingClient:
    """Wraps a ``WorldServiceClient`` adapter with version negotiation and the fallback.

    The Gateway sends the configured version (or a lower one the caller asked for). When
    WorldService refuses a version above 1 with one of ``RETRY_LOWER_STATUSES``, the
    Gateway retries once at the next lower version, and again from there: 3 → 2 → 1, each
    step once. Version 1 is sent without a ``schema_version`` key, as a v1 client sends it.

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

    async def allocations(
        self, world_id: str | None = None, *, limit: int | None = None,
        cursor: str | None = None,
    ) -> AllocationsReply:
        """Read WorldService's stored allocations (a read carries no schema version)."""
        return await self.client.allocations(world_id, limit=limit, cursor=cursor)

    async def _call(
        self, send: Callable[[R], Awaitable[WorldServiceReply]], request: R
    ) -> NegotiatedPlan:
        version = requested_version(request.schema_version, self.configured_version)
        attempt = version
        first: AppError | None = None
        while True:
            # A retry at version 1 sends no schema_version key at all, as a v1 client does.
            sent = None if first is not None and attempt == 1 else attempt
            try:
                reply = await send(msgspec.structs.replace(request, schema_version=sent))
                break
            except AppError as exc:
                if first is not None and exc.code in NO_RETRY_CODES:
                    raise first from exc  # the lower version says nothing new
                retryable = exc.status in RETRY_LOWER_STATUSES and exc.code not in NO_RETRY_CODES
                if attempt is None or attempt <= 1 or not retryable:
                    raise
                first = first or exc
                log.info("worldservice_version_retry", status=exc.status, code=exc.code,
                         sent=attempt, retry=attempt - 1)
                attempt -= 1
        negotiated = schema_version_of(reply.plan)
        if request.policy is not None and negotiated < POLICY_SCHEMA_VERSION:
            raise _policy_ignored(negotiated)
        return NegotiatedPlan(
            plan=reply.plan,
            content=reply.content,
            schema_version=negotiated,
            requested=version if version is not None and version >= 1 else 1,
            fell_back=first is not None,
            replayed=reply.replayed,
        )
