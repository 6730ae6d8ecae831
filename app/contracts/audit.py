"""The audit log: one record per mutating or refused call, and its page of ``GET /audit``."""

from __future__ import annotations

import base64
import binascii
from typing import Final, Literal

import msgspec

__all__ = [
    "AUDIT_CURSOR_KIND",
    "AuditPage",
    "AuditRecord",
    "CursorError",
    "Outcome",
    "decode_cursor",
    "encode_cursor",
]

Outcome = Literal["ok", "denied", "failed"]
"""``ok``: a 1xx-3xx answer; ``denied``: 401 or 403 (no key, a bad key, a missing scope,
the live guard); ``failed``: any other error answer, or a call cut off before it answered."""

#: The list name inside the cursors of ``GET /audit``.
AUDIT_CURSOR_KIND: Final = "audit"


class AuditRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One audited call: who (key id and name), what (method, route, ids), when, and how
    it ended. Never a secret, never a request body: the only text taken from a body is the
    ``reason`` of a trading-state change and the ``run_id`` of an apply or allocation.

    ``seq`` is the record's position in the log (set when it is read back); ``id`` is
    stable and is also the ``id`` of the ``audit_recorded`` event that announced it.
    """

    id: str
    seq: int | None = None
    at: float
    time: str
    key_id: str | None
    key_name: str | None
    method: str
    route: str
    path: str
    status: int
    outcome: Outcome
    code: str | None = None
    reason: str | None = None
    run_id: str | None = None
    execution_id: str | None = None
    world_id: str | None = None
    request_id: str | None = None
    client: str | None = None


class AuditPage(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /audit``: records oldest first; ``next`` is the cursor of the following page
    (None on the last one)."""

    entries: list[AuditRecord]
    next: str | None


class CursorError(ValueError):
    """A ``cursor`` that no page of this list handed out."""


def encode_cursor(kind: str, position: int) -> str:
    """The opaque cursor after ``position`` in the list ``kind`` (URL-safe base64)."""
    return base64.urlsafe_b64encode(f"{kind}:{position}".encode()).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str) -> int:
    """The position inside a cursor of the list ``kind``.

    Raises:
        CursorError: the text is not such a cursor (malformed, or of another list).
    """
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise CursorError("not a cursor handed out by this list") from None
    name, sep, number = raw.partition(":")
    if not sep or name != kind or not (number.isascii() and number.isdigit()):
        raise CursorError("not a cursor handed out by this list")
    if len(number) > 18:
        raise CursorError("not a cursor handed out by this list")
    return int(number)
