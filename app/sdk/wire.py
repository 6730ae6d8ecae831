"""Decoding and encoding of Gateway answers shared by the sync and async clients."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from app.contracts.events import CloudEvent
from app.contracts.plan_reading import PlanReadError, read_plan
from app.contracts.rebalancing import AlphaMetricsEnvelope, PlanResponse, RebalanceRequest
from app.metrics.alpha import parse_alpha_envelope
from app.sdk.errors import ProtocolError

__all__ = [
    "AppliedPlanRecord",
    "GatewayHealth",
    "decode_event",
    "decode_plan",
    "encode_request",
    "gather_plans",
    "page_limit",
    "parse_applied_plans",
    "parse_health",
    "plan_to_builtins",
]


class GatewayHealth(msgspec.Struct, frozen=True, kw_only=True):
    """What ``GET /health`` says, reduced to what clients act on (``raw`` keeps the rest).

    Attributes:
        status: ``ok`` or ``degraded`` (or whatever the server said).
        rebalance_schema_version: the highest schema version the Gateway advertises.
        alpha_metrics_capable: whether the Gateway handles ``alpha_performance`` metrics.
        worldservice_max_schema_version: what WorldService supports, when the Gateway says.
        compute_context_contract: the advertised compute-context contract, if any.
        raw: the whole decoded body.
    """

    status: str
    rebalance_schema_version: int
    alpha_metrics_capable: bool
    worldservice_max_schema_version: int | None = None
    compute_context_contract: str | None = None
    raw: dict[str, Any] = msgspec.field(default_factory=dict)


def _int_or(value: object, default: int | None) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    return int(value)


def parse_health(obj: object) -> GatewayHealth:
    """Read the capability bits from a ``/health`` body tolerantly.

    The top-level bits are read first (where QMTL SDKs read them), then ``capabilities``.
    A missing or malformed bit counts as "not advertised" (version 1, not alpha-capable).

    Args:
        obj: the decoded JSON body.

    Returns:
        The parsed health.
    """
    body = dict(obj) if isinstance(obj, Mapping) else {}
    caps_obj = body.get("capabilities")
    caps: Mapping[str, Any] = caps_obj if isinstance(caps_obj, Mapping) else {}

    def bit(name: str) -> object:
        return body[name] if name in body else caps.get(name)

    version = _int_or(bit("rebalance_schema_version"), 1) or 1
    alpha = bit("alpha_metrics_capable") is True
    ws_max = _int_or(body.get("worldservice_max_schema_version"), None)
    contract = bit("compute_context_contract")
    return GatewayHealth(
        status=str(body.get("status", "unknown")),
        rebalance_schema_version=version,
        alpha_metrics_capable=alpha,
        worldservice_max_schema_version=ws_max,
        compute_context_contract=contract if isinstance(contract, str) else None,
        raw=body,
    )


def encode_request(request: RebalanceRequest | Mapping[str, Any], **extra: Any) -> bytes:
    """Encode a request body; unset (None) top-level fields are left out.

    Leaving ``schema_version`` out (rather than sending ``null``) is what a v1 client sends.

    Args:
        request: a ``RebalanceRequest`` (or subclass) or a plain mapping.
        **extra: extra top-level fields (``run_id``); None values are dropped too.

    Returns:
        The JSON bytes.
    """
    data = msgspec.to_builtins(request) if isinstance(request, msgspec.Struct) else dict(request)
    data.update(extra)
    return msgspec.json.encode({k: v for k, v in data.items() if v is not None})


def decode_plan(obj: object) -> PlanResponse:
    """Decode a plan answer (v1, v2 or v3) from its decoded JSON, leniently.

    The one lenient reader of the contract (``app.contracts.plan_reading.read_plan``) fills
    in QMTL's defaults (no ``schema_version`` is v1, a world entry without ``world_id`` takes
    its key, no ``global_deltas`` is ``[]``, v2 metrics are sanitised and a missing envelope
    or intent is empty); unknown fields are ignored.

    Args:
        obj: the decoded JSON body.

    Returns:
        ``PlanV1``, ``PlanV2`` or ``PlanV3``.

    Raises:
        ProtocolError: the body is not a plan.
    """
    try:
        return read_plan(obj)
    except PlanReadError as exc:
        raise ProtocolError(f"plan answer is not a plan: {exc}") from exc


def plan_to_builtins(plan: PlanResponse) -> dict[str, Any]:
    """Turn a plan back into JSON-ready builtins (``schema_version`` included)."""
    out: dict[str, Any] = msgspec.to_builtins(plan)
    return out


def decode_event(raw: str | bytes) -> CloudEvent | None:
    """Decode one WebSocket message into a ``CloudEvent``; None for non-event messages.

    Args:
        raw: the text or bytes of the message.

    Returns:
        The event, or None when the message is a control message or not JSON.
    """
    try:
        obj = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return None
    if not isinstance(obj, dict) or "id" not in obj or "data" not in obj:
        return None
    try:
        return msgspec.convert(obj, CloudEvent, strict=False)
    except msgspec.ValidationError:
        return None


class AppliedPlanRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One applied plan as ``GET /worldservice/rebalancing/plans`` lists it.

    Attributes:
        run_id: the apply's idempotency key.
        schema_version: the negotiated version the plan was answered in.
        world_ids: the worlds in the plan.
        created_at: when it was applied (Unix seconds).
        alpha_metrics: the plan's sanitised metrics (schema v2 and later), else None.
        response: the stored answer, as decoded JSON.
    """

    run_id: str
    schema_version: int
    world_ids: list[str]
    created_at: float
    alpha_metrics: AlphaMetricsEnvelope | None
    response: dict[str, Any]


class _Listed(msgspec.Struct, frozen=True, kw_only=True):
    run_id: str
    schema_version: int
    world_ids: list[str]
    created_at: float
    response: dict[str, Any]


def parse_applied_plans(body: object) -> list[AppliedPlanRecord]:
    """Read a plans listing (``{"plans": [...]}``); unknown fields are ignored.

    Raises:
        ProtocolError: the body is not a plans listing.
    """
    plans = body.get("plans") if isinstance(body, Mapping) else None
    if not isinstance(plans, list):
        raise ProtocolError('plans answer is not {"plans": [...]}')
    try:
        listed = msgspec.convert(plans, list[_Listed], strict=False)
    except msgspec.ValidationError as exc:
        raise ProtocolError(f"plans answer does not match the contract: {exc}") from exc
    return [
        AppliedPlanRecord(
            run_id=p.run_id, schema_version=p.schema_version, world_ids=p.world_ids,
            created_at=p.created_at, response=p.response,
            alpha_metrics=parse_alpha_envelope(p.response["alpha_metrics"])
            if p.schema_version >= 2 and "alpha_metrics" in p.response else None,
        )
        for p in listed
    ]


def page_limit(records: list[AppliedPlanRecord], limit: int) -> int:
    """The page size to ask for next: what is still wanted, at most the server's 1000."""
    return max(1, min(limit - len(records), 1000))


def gather_plans(records: list[AppliedPlanRecord], page: object, limit: int) -> str | None:
    """Add a page's plans to ``records``; return the cursor of the next page to read, or
    None once ``limit`` plans are in or the listing has no more."""
    records += parse_applied_plans(page)[: limit - len(records)]
    cursor = page.get("next") if isinstance(page, Mapping) else None
    return cursor if isinstance(cursor, str) and cursor and len(records) < limit else None
