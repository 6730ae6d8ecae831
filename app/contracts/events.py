"""CloudEvents 1.0 envelopes for ControlBus topics (SPEC §7)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Final

import msgspec

__all__ = [
    "EVENT_SOURCE_GATEWAY",
    "EVENT_SOURCE_WORLDSERVICE",
    "JSON_CONTENT_TYPE",
    "SPECVERSION",
    "REBALANCING_ORDERS",
    "REBALANCING_PLANNED",
    "TOPICS",
    "CloudEvent",
    "new_event",
]

REBALANCING_PLANNED: Final = "rebalancing_planned"
REBALANCING_ORDERS: Final = "rebalancing_orders"
TOPICS: Final[tuple[str, ...]] = (REBALANCING_PLANNED, REBALANCING_ORDERS)
EVENT_SOURCE_WORLDSERVICE: Final = "worldgate/worldservice"
EVENT_SOURCE_GATEWAY: Final = "worldgate/gateway"
SPECVERSION: Final = "1.0"
JSON_CONTENT_TYPE: Final = "application/json"


class CloudEvent(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A CloudEvents 1.0 JSON envelope.

    ``type`` is the topic. ``seq`` is a Worldgate extension attribute: the position of the
    event in the store's event log (global, increasing), set when the event is read back
    from the log; WebSocket clients resume from it.
    """

    id: str
    source: str
    type: str
    subject: str | None = None
    time: str
    data: dict[str, Any]
    # ``specversion`` is REQUIRED by CloudEvents: it has no default so that omit_defaults
    # never drops it. An absent ``datacontenttype`` means JSON in the JSON format, so the
    # default may be omitted.
    specversion: str
    datacontenttype: str = JSON_CONTENT_TYPE
    seq: int | None = None


def new_event(
    topic: str, source: str, data: dict[str, Any], *, subject: str | None = None
) -> CloudEvent:
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
