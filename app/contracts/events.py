"""CloudEvents 1.0 envelopes for ControlBus topics and their typed payloads, one per version.

Producers build payloads as the Structs below; what travels is the CloudEvents JSON. A
reader of schema version N sees :func:`payload_view` of the payload: the Struct of the
highest version it reads, built from the fields that type declares (so a v1 reader can
never receive a v2 field: the v1 type has none).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Final

import msgspec

from app.contracts.audit import AuditRecord
from app.contracts.orders import Order, Scope, SharedAccountFigures
from app.contracts.policy import SkippedDelta, WorldProjection
from app.contracts.rebalancing import AlphaMetricsEnvelope, RebalanceIntent, WorldPlan
from app.contracts.risk import RiskScope, TradingState

__all__ = [
    "AUDIT",
    "AUDIT_RECORDED",
    "DEFAULT_TOPICS",
    "EVENT_SOURCE_GATEWAY",
    "EVENT_SOURCE_SECURITY",
    "EVENT_SOURCE_WORLDSERVICE",
    "JSON_CONTENT_TYPE",
    "REBALANCING_ORDERS",
    "REBALANCING_PLANNED",
    "RISK",
    "RISK_STATE_CHANGED",
    "SPECVERSION",
    "TOPICS",
    "AuditPayload",
    "CloudEvent",
    "EventPayload",
    "OrderCounts",
    "OrdersPayload",
    "PlannedPayload",
    "PlannedV1",
    "PlannedV2",
    "PlannedV3",
    "RiskStatePayload",
    "new_event",
    "payload_version",
    "payload_view",
    "topic_of",
    "typed_payload",
]

REBALANCING_PLANNED: Final = "rebalancing_planned"
REBALANCING_ORDERS: Final = "rebalancing_orders"
#: Event type of a trading-state change; it travels on the topic ``risk``.
RISK_STATE_CHANGED: Final = "risk_state_changed"
RISK: Final = "risk"
#: Event type of an audited call; it travels on the topic ``audit``.
AUDIT_RECORDED: Final = "audit_recorded"
AUDIT: Final = "audit"
TOPICS: Final[tuple[str, ...]] = (REBALANCING_PLANNED, REBALANCING_ORDERS, RISK, AUDIT)
#: The topics a WebSocket client gets when it names none: ``audit`` is asked for by name
#: (and needs the ``admin`` scope).
DEFAULT_TOPICS: Final[tuple[str, ...]] = (REBALANCING_PLANNED, REBALANCING_ORDERS, RISK)
#: Event types whose topic is not their own name (every other type is its own topic).
_TOPIC_OF_TYPE: Final[dict[str, str]] = {RISK_STATE_CHANGED: RISK, AUDIT_RECORDED: AUDIT}
EVENT_SOURCE_WORLDSERVICE: Final = "worldgate/worldservice"
EVENT_SOURCE_GATEWAY: Final = "worldgate/gateway"
#: The source of ``audit_recorded`` events (the HTTP edge of any role).
EVENT_SOURCE_SECURITY: Final = "worldgate/security"
SPECVERSION: Final = "1.0"
JSON_CONTENT_TYPE: Final = "application/json"


class CloudEvent(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A CloudEvents 1.0 JSON envelope.

    ``type`` is the topic. ``data`` is a payload Struct when the event is built and a plain
    mapping once it has travelled (use :func:`typed_payload` to read it typed). ``seq`` is a
    Worldgate extension attribute: the position of the event in the store's event log
    (global, increasing), set when the event is read back from the log; WebSocket clients
    resume from it.
    """

    id: str
    source: str
    type: str
    subject: str | None = None
    time: str
    data: Any
    # ``specversion`` is REQUIRED by CloudEvents: it has no default so that omit_defaults
    # never drops it. An absent ``datacontenttype`` means JSON in the JSON format, so the
    # default may be omitted.
    specversion: str
    datacontenttype: str = JSON_CONTENT_TYPE
    seq: int | None = None


class _PlannedBase(msgspec.Struct, frozen=True, kw_only=True, tag_field="schema_version"):
    """Fields of every ``rebalancing_planned`` payload: one world's plan of one run.

    ``version`` repeats the payload's schema version (QMTL's consumers read the version of
    a planned event there); each version's type sets it, so a view of another version
    never carries the wrong one.
    """

    world_id: str
    plan: WorldPlan
    version: int = 1
    run_id: str | None = None
    idempotency_key: str


class PlannedV1(_PlannedBase, tag=1, frozen=True, kw_only=True):
    """A v1 ``rebalancing_planned`` payload: never carries v2 fields; ``version`` is 1."""


class PlannedV2(_PlannedBase, tag=2, frozen=True, kw_only=True):
    """A v2 payload: adds this world's ``alpha_metrics`` and the ``rebalance_intent``;
    ``version`` is 2."""

    version: int = 2
    alpha_metrics: AlphaMetricsEnvelope
    rebalance_intent: RebalanceIntent


class PlannedV3(PlannedV2, tag=3, frozen=True, kw_only=True):
    """A v3 payload: adds this world's ``skipped`` deltas and its ``projection``;
    ``version`` is 3."""

    version: int = 3
    skipped: list[SkippedDelta]
    projection: WorldProjection


PlannedPayload = PlannedV1 | PlannedV2 | PlannedV3
_PLANNED_BY_VERSION: Final[dict[int, type[PlannedPayload]]] = {
    1: PlannedV1, 2: PlannedV2, 3: PlannedV3,
}


class OrderCounts(msgspec.Struct, frozen=True, kw_only=True):
    """How many orders a batch has, and how many of them are reduce-only."""

    total: int
    reduce_only: int


class OrdersPayload(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A ``rebalancing_orders`` payload: one submitted batch of one execution.

    A shared-account batch has ``world_id`` ``"global"``, ``shared_account: true`` and the
    policy figures in ``shared_account_figures``; other batches carry neither field.
    """

    execution_id: str
    batch_id: str
    world_id: str
    scope: Scope
    orders: list[Order]
    counts: OrderCounts
    reduce_only_ratio: float
    submitted_at: str
    schema_version: int
    shared_account: bool | None = None
    shared_account_figures: SharedAccountFigures | None = None


class RiskStatePayload(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A ``risk_state_changed`` payload: one trading state was set (``world_id`` is absent
    for the global state). One layout for every reader version."""

    scope: RiskScope
    world_id: str | None = None
    state: TradingState
    previous_state: TradingState
    reason: str
    actor: str
    updated_at: str
    etag: str


AuditPayload = AuditRecord
"""An ``audit_recorded`` payload: the audit record itself (without ``seq``, which is its
position in the audit log, not in the event log). One layout for every reader version."""

EventPayload = (
    PlannedV1 | PlannedV2 | PlannedV3 | OrdersPayload | RiskStatePayload | AuditRecord
)


def payload_version(payload: PlannedPayload) -> int:
    """The schema version of a planned payload: its ``schema_version`` tag."""
    tag = type(payload).__struct_config__.tag
    return tag if isinstance(tag, int) else 1


def topic_of(event_type: str) -> str:
    """The ControlBus topic an event of ``event_type`` travels on."""
    return _TOPIC_OF_TYPE.get(event_type, event_type)


_PAYLOAD_OF_TYPE: Final[dict[str, Any]] = {
    REBALANCING_PLANNED: PlannedPayload,
    REBALANCING_ORDERS: OrdersPayload,
    RISK_STATE_CHANGED: RiskStatePayload,
    AUDIT_RECORDED: AuditRecord,
}


def typed_payload(topic: str, data: Any) -> EventPayload | None:
    """Read an event's ``data`` as the payload Struct of its topic.

    Returns:
        The typed payload, or None when the topic has no payload type or ``data`` does not
        match it (an event from a foreign producer).
    """
    if isinstance(
        data, (PlannedV1, PlannedV2, PlannedV3, OrdersPayload, RiskStatePayload, AuditRecord)
    ):
        return data
    kind: Any = _PAYLOAD_OF_TYPE.get(topic)
    if kind is None:
        return None
    try:
        payload: EventPayload = msgspec.convert(data, kind)
    except msgspec.ValidationError:
        return None
    return payload


def payload_view(payload: EventPayload, schema_version: int) -> EventPayload:
    """The payload as a reader of ``schema_version`` sees it.

    A planned payload newer than the reader becomes the reader's version, built from the
    fields that version's type declares (``version`` is the reader's version, as the type
    sets it); an orders payload reports at most the reader's version in ``schema_version``.
    """
    if isinstance(payload, OrdersPayload):
        if payload.schema_version <= schema_version:
            return payload
        return msgspec.structs.replace(payload, schema_version=max(1, schema_version))
    if isinstance(payload, (RiskStatePayload, AuditRecord)):  # one layout for every reader
        return payload
    if payload_version(payload) <= schema_version:
        return payload
    target = _PLANNED_BY_VERSION[max(1, schema_version)]
    return target(
        **{
            name: getattr(payload, name)
            for name in target.__struct_fields__
            if name != "version"
        }
    )


def new_event(topic: str, source: str, data: Any, *, subject: str | None = None) -> CloudEvent:
    """Build an event with a fresh stable id and the current UTC time."""
    return CloudEvent(
        id=str(uuid.uuid4()),
        source=source,
        type=topic,
        subject=subject,
        time=datetime.now(UTC).isoformat(),
        data=data,
        specversion=SPECVERSION,
    )

