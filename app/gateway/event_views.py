"""Pure parts of ``WS /events``: subscriptions, filters, versioned event views, control frames."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any, Final

import msgspec

from app.contracts.events import (
    DEFAULT_TOPICS,
    REBALANCING_PLANNED,
    RISK,
    TOPICS,
    CloudEvent,
    PlannedV1,
    PlannedV2,
    PlannedV3,
    payload_view,
    typed_payload,
)
from app.contracts.rebalancing import LATEST_SCHEMA_VERSION
from app.errors import Code

__all__ = [
    "EventFrame",
    "RecentIds",
    "SubscriptionError",
    "SubscriptionSpec",
    "control_frame",
    "encode_message",
    "error_frame",
    "event_world_id",
    "parse_subscription",
    "subscription_from_message",
    "subscription_from_query",
    "view_event",
]

_V1_FIELDS: Final = frozenset(PlannedV1.__struct_fields__)
_NEWER_THAN: Final[dict[int, frozenset[str]]] = {
    # The fields a reader of that version must not see (added by later versions).
    2: frozenset(PlannedV3.__struct_fields__) - frozenset(PlannedV2.__struct_fields__),
}
_SUBSCRIPTION_KEYS: Final = ("topics", "world_id", "schema_version", "since")
_encoder = msgspec.json.Encoder()


class SubscriptionError(Exception):
    """A subscription the server cannot honour; sent to the client as an error frame."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class SubscriptionSpec(msgspec.Struct, frozen=True, kw_only=True):
    """What one client wants: topics, worlds (None = all), view version, resume point."""

    topics: frozenset[str] = frozenset(DEFAULT_TOPICS)
    world_ids: frozenset[str] | None = None
    schema_version: int = 1
    since: int | None = None

    def matches(self, topic: str, world_id: str | None) -> bool:
        """Say whether an event on ``topic`` about ``world_id`` passes this filter.

        A change of the global trading state (topic ``risk``, no world) concerns every
        world, so it passes every world filter.
        """
        if topic not in self.topics:
            return False
        if self.world_ids is None or (world_id is not None and world_id in self.world_ids):
            return True
        return topic == RISK and world_id is None

    def describe(self) -> dict[str, Any]:
        """Return the subscription as sent back in the ``subscribed`` frame."""
        return {
            "type": "subscribed",
            "topics": sorted(self.topics),
            "world_id": sorted(self.world_ids) if self.world_ids is not None else None,
            "schema_version": self.schema_version,
            "since": self.since,
        }


def _split(values: Iterable[Any], name: str) -> list[str]:
    """Flatten repeated and comma-separated values into a list of non-empty strings."""
    out: list[str] = []
    for value in values:
        if not isinstance(value, str):
            raise SubscriptionError(Code.BAD_SUBSCRIPTION, f"`{name}` must be strings.")
        out.extend(part.strip() for part in value.split(",") if part.strip())
    return out


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise SubscriptionError(Code.BAD_SUBSCRIPTION, f"`{name}` must be an integer.")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise SubscriptionError(Code.BAD_SUBSCRIPTION, f"`{name}` must be an integer.")


def parse_subscription(raw: Mapping[str, list[Any]]) -> SubscriptionSpec:
    """Validate a subscription given as ``{key: [values...]}``.

    Args:
        raw: values per key (``topics``, ``world_id``, ``schema_version``, ``since``); each
            list holds the repeated values of that key; strings may be comma-separated.

    Returns:
        The subscription.

    Raises:
        SubscriptionError: an unknown topic (``E_UNKNOWN_TOPIC``), an unsupported schema
            version (``E_UNSUPPORTED_SCHEMA_VERSION``) or a malformed value
            (``E_BAD_SUBSCRIPTION``).
    """
    spec_topics = frozenset(DEFAULT_TOPICS)  # `audit` only when asked for by name
    if raw.get("topics"):
        names = _split(raw["topics"], "topics")
        unknown = sorted(set(names) - set(TOPICS))
        if unknown:
            raise SubscriptionError(
                Code.UNKNOWN_TOPIC,
                f"Unknown topic(s) {', '.join(unknown)}; known: {', '.join(TOPICS)}.",
            )
        if names:
            spec_topics = frozenset(names)
    worlds: frozenset[str] | None = None
    if raw.get("world_id"):
        worlds = frozenset(_split(raw["world_id"], "world_id")) or None
    version = 1
    if raw.get("schema_version"):
        version = _int(raw["schema_version"][-1], "schema_version")
        if not 1 <= version <= LATEST_SCHEMA_VERSION:
            served = ", ".join(str(v) for v in range(1, LATEST_SCHEMA_VERSION + 1))
            raise SubscriptionError(
                Code.UNSUPPORTED_SCHEMA_VERSION,
                f"schema_version {version} is not supported; use one of {served}.",
            )
    since: int | None = None
    if raw.get("since"):
        since = _int(raw["since"][-1], "since")
        if since < 0:
            raise SubscriptionError(Code.BAD_SUBSCRIPTION, "`since` must be >= 0.")
    return SubscriptionSpec(
        topics=spec_topics, world_ids=worlds, schema_version=version, since=since
    )


def subscription_from_query(query: Mapping[str, list[str]]) -> SubscriptionSpec | None:
    """Read a subscription from query parameters; None when none of its keys is present."""
    present = {key: list(query[key]) for key in _SUBSCRIPTION_KEYS if key in query}
    if not present:
        return None
    return parse_subscription(present)


def subscription_from_message(payload: str | bytes) -> SubscriptionSpec:
    """Read a subscription from a client's JSON message (``{"type": "subscribe", ...}``).

    Raises:
        SubscriptionError: not JSON (or nested too deeply), not a JSON object, a ``type``
            other than ``subscribe``, or a bad subscription (see ``parse_subscription``).
    """
    try:
        message = msgspec.json.decode(payload)
    except msgspec.DecodeError as exc:
        raise SubscriptionError(Code.BAD_MESSAGE, f"Message is not valid JSON: {exc}.") from exc
    except RecursionError as exc:  # msgspec's guard against deeply nested arrays/objects
        raise SubscriptionError(Code.BAD_MESSAGE, "Message is nested too deeply.") from exc
    if not isinstance(message, dict):
        raise SubscriptionError(Code.BAD_MESSAGE, "Message must be a JSON object.")
    kind = message.get("type", "subscribe")
    if kind != "subscribe":
        raise SubscriptionError(Code.BAD_MESSAGE, f"Unknown message type {kind!r}.")
    raw: dict[str, list[Any]] = {}
    for key in _SUBSCRIPTION_KEYS:
        value = message.get(key)
        if value is None:
            continue
        raw[key] = list(value) if isinstance(value, list) else [value]
    return parse_subscription(raw)


def event_world_id(event: CloudEvent) -> str | None:
    """Return the world an event is about: its payload's ``world_id``, else ``subject``."""
    data = event.data
    world = data.get("world_id") if isinstance(data, dict) else getattr(data, "world_id", None)
    if isinstance(world, str):
        return world
    return event.subject


def _untyped_view(topic: str, data: dict[str, Any], schema_version: int) -> dict[str, Any]:
    """The view of a payload that does not match its topic's type (a foreign producer):
    a v1 reader gets only the fields the v1 type declares, a v2 reader none of the fields
    v3 added."""
    if schema_version >= LATEST_SCHEMA_VERSION or topic != REBALANCING_PLANNED:
        return data
    if schema_version <= 1:
        out = {key: value for key, value in data.items() if key in _V1_FIELDS}
        out["schema_version"] = 1
        if "version" in out:  # ``version`` repeats the schema version: a v1 view says 1
            out["version"] = 1
        return out
    newer = _NEWER_THAN[schema_version]
    version = data.get("schema_version")
    too_new = isinstance(version, int) and version > schema_version
    if not too_new and newer.isdisjoint(data):
        return data
    out = {key: value for key, value in data.items() if key not in newer}
    if too_new:
        out["schema_version"] = schema_version
        if "version" in out:
            out["version"] = schema_version
    return out


def view_event(event: CloudEvent, schema_version: int) -> bytes:
    """Encode ``event`` as a client of ``schema_version`` sees it.

    The payload is read as its topic's typed payload and shown as :func:`payload_view`
    makes it: a v1 reader of a v2 plan gets the v1 payload, built from the v1 type's fields.
    """
    payload = typed_payload(event.type, event.data)
    view: Any
    if payload is not None:
        view = payload_view(payload, schema_version)
        if view is payload:  # the reader reads this version: the event goes out as it came
            return _encoder.encode(event)
    elif isinstance(event.data, dict):
        view = _untyped_view(event.type, event.data, schema_version)
        if view is event.data:
            return _encoder.encode(event)
    else:
        return _encoder.encode(event)
    return _encoder.encode(msgspec.structs.replace(event, data=view))


class EventFrame:
    """One relayed event with its per-version encodings, computed once and shared."""

    __slots__ = ("_encoded", "event", "id", "seq", "topic", "world_id")

    def __init__(self, event: CloudEvent, topic: str | None = None) -> None:
        self.event = event
        self.id = event.id
        self.seq = event.seq
        self.topic = topic or event.type
        self.world_id = event_world_id(event)
        self._encoded: dict[int, bytes] = {}

    def encoded_bytes(self, schema_version: int) -> bytes:
        """Return (and cache) the event as seen by a ``schema_version`` reader: the UTF-8
        text of its WebSocket message, encoded once and shared by every client."""
        version = max(1, min(schema_version, LATEST_SCHEMA_VERSION))
        raw = self._encoded.get(version)
        if raw is None:
            raw = self._encoded[version] = view_event(self.event, version)
        return raw

    def encoded(self, schema_version: int) -> str:
        """Return the event as seen by a ``schema_version`` reader, as text."""
        return self.encoded_bytes(schema_version).decode()


class RecentIds:
    """A bounded window of recently seen event ids (oldest forgotten first)."""

    def __init__(self, size: int) -> None:
        self._size = max(1, size)
        self._order: deque[str] = deque()
        self._seen: set[str] = set()

    def __len__(self) -> int:
        return len(self._seen)

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._seen

    def add(self, event_id: str) -> bool:
        """Remember ``event_id``; return False when it was already in the window."""
        if event_id in self._seen:
            return False
        self._seen.add(event_id)
        self._order.append(event_id)
        if len(self._order) > self._size:
            self._seen.discard(self._order.popleft())
        return True


def encode_message(message: Mapping[str, Any]) -> bytes:
    """Encode a control message given as a mapping (it carries its own ``type``)."""
    return _encoder.encode(message)


def control_frame(kind: str, **fields: Any) -> bytes:
    """Encode a control message ``{"type": kind, **fields}``."""
    return _encoder.encode({"type": kind, **fields})


def error_frame(code: str, detail: str) -> bytes:
    """Encode an error frame ``{"type": "error", "code": ..., "detail": ...}``."""
    return control_frame("error", code=code, detail=detail)
