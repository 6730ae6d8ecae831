"""The audit log: one record per mutating or refused call, and its page of ``GET /audit``."""

from __future__ import annotations

from typing import Final, Literal

import msgspec

__all__ = [
    "AUDIT_CURSOR_KIND",
    "AuditPage",
    "AuditRecord",
    "Outcome",
]

Outcome = Literal["ok", "denied", "failed"]
"""``ok``: a 1xx-3xx answer; ``denied``: 401 or 403 (no key, a bad key, a missing scope,
the live guard); ``failed``: any other error answer, or a call cut off before it answered."""

#: The list name inside the cursors of ``GET /audit`` (``app.contracts.pages``).
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
