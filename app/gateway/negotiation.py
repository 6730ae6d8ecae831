"""Schema-version negotiation with WorldService, shared by every client adapter (SPEC §8)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final

import msgspec
import structlog

from app.contracts.rebalancing import PlanResponse, PlanV2
from app.contracts.worldservice_client import WorldServiceClient, WorldServiceReply
from app.errors import AppError

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

_decoder: msgspec.json.Decoder[PlanResponse] = msgspec.json.Decoder(PlanResponse)


class NegotiatedPlan(msgspec.Struct, frozen=True, kw_only=True):
    """A plan and how it was obtained.

    ``content`` is WorldService's JSON body unchanged (proxies return it byte for byte);
    ``schema_version`` is the negotiated version (the answer's tag); ``requested`` what the
    first call asked for; ``fell_back`` whether the single v1 retry was used.
    """

    plan: PlanResponse
    content: bytes
    schema_version: int
    requested: int
    fell_back: bool


def requested_version(body: dict[str, Any], configured: int) -> Any:
    """Return the ``schema_version`` to send: the configured one, or a lower explicit one.

    An explicit value that is not a positive integer is sent unchanged, so WorldService
    rejects it with its own 422.
    """
    explicit = body.get("schema_version")
    if explicit is None:
        return configured
    if isinstance(explicit, int) and not isinstance(explicit, bool) and explicit >= 1:
        return min(explicit, configured)
    return explicit


def alpha_metrics_present(plan: PlanResponse) -> bool:
    """Return True when ``plan`` is v2 and carries at least one metrics entry."""
    if not isinstance(plan, PlanV2):
        return False
    return bool(plan.alpha_metrics.per_world or plan.alpha_metrics.per_strategy)


def _decode(reply: WorldServiceReply) -> PlanResponse:
    try:
        return _decoder.decode(reply.content)
    except msgspec.DecodeError as exc:
        log.warning("worldservice_bad_answer", error=str(exc))
        raise AppError(
            f"WorldService sent an answer the Gateway cannot read: {exc}",
            code="E_WORLDSERVICE_BAD_RESPONSE",
            status=502,
        ) from exc


class NegotiatingClient:
    """Wraps a ``WorldServiceClient`` adapter with version negotiation and the v1 retry.

    Args:
        client: the adapter (in-process or HTTP).
        configured_version: ``gateway.rebalance_schema_version``.
    """

    def __init__(self, client: WorldServiceClient, configured_version: int) -> None:
        self.client = client
        self.configured_version = configured_version

    async def plan(self, body: dict[str, Any]) -> NegotiatedPlan:
        """Ask WorldService for a plan of ``body`` at the negotiated version."""
        return await self._call(self.client.plan, body)

    async def apply(self, body: dict[str, Any]) -> NegotiatedPlan:
        """Ask WorldService to apply ``body`` at the negotiated version."""
        return await self._call(self.client.apply, body)

    async def _call(
        self,
        send: Callable[[dict[str, Any]], Awaitable[WorldServiceReply]],
        body: dict[str, Any],
    ) -> NegotiatedPlan:
        version = requested_version(body, self.configured_version)
        first = dict(body)
        first["schema_version"] = version
        try:
            reply = await send(first)
            fell_back = False
        except AppError as exc:
            retry = isinstance(version, int) and version > 1
            if not (retry and exc.status in RETRY_AS_V1_STATUSES):
                raise
            log.info("worldservice_v1_retry", status=exc.status, code=exc.code, sent=version)
            v1 = {key: value for key, value in body.items() if key != "schema_version"}
            try:
                reply = await send(v1)
            except AppError as retry_exc:
                # A v1 refusal because v2 is required says nothing new: report the first error.
                if retry_exc.code == "E_SCHEMA_VERSION_REQUIRED":
                    raise exc from retry_exc
                raise
            fell_back = True
        plan = _decode(reply)
        return NegotiatedPlan(
            plan=plan,
            content=reply.content,
            schema_version=2 if isinstance(plan, PlanV2) else 1,
            requested=version if isinstance(version, int) else 1,
            fell_back=fell_back,
        )
