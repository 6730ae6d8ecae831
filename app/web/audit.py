"""The audit trail: records written durably before the answer leaves, in group commits.

Every call that changes something (any scope but ``read`` and ``plan``) and every refused
call is recorded by the access-control middleware before its answer's first byte is sent.
Writers that arrive while a write is running join the next one, so under load many records
share one transaction (and one fsync) instead of queueing for one each; alone, a record
costs one small transaction. Each record is written with its ``audit_recorded`` event
(topic ``audit``), which the outbox then publishes.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any, Final

import anyio
import msgspec
import structlog

from app.contracts.audit import AUDIT_CURSOR_KIND, AuditPage, AuditRecord
from app.contracts.events import AUDIT_RECORDED, EVENT_SOURCE_SECURITY, CloudEvent, new_event
from app.runtime.lifecycle import Component
from app.store.ports import AuditLog, AuditQuery
from app.web.pages import next_cursor

__all__ = ["AuditNotes", "AuditTrail", "note", "note_answer_ids", "notes_of", "printable"]

log = structlog.get_logger(__name__)

_NOTES_KEY: Final = "worldgate.audit_notes"
_MAX_TEXT: Final = 500
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


class AuditNotes:
    """What a handler adds to its call's audit record (ids, the reason given, a refusal
    it made itself); kept on the connection's scope."""

    __slots__ = ("code", "denied", "execution_id", "reason", "run_id", "world_id")

    def __init__(self) -> None:
        self.run_id: str | None = None
        self.execution_id: str | None = None
        self.world_id: str | None = None
        self.reason: str | None = None
        self.code: str | None = None
        self.denied: int | None = None


def notes_of(scope: Any) -> AuditNotes:
    """The audit notes of a connection (its ASGI scope, or the connection itself)."""
    target = getattr(scope, "scope", scope)
    notes = target.get(_NOTES_KEY)
    if not isinstance(notes, AuditNotes):
        notes = target[_NOTES_KEY] = AuditNotes()
    return notes


def printable(text: str, limit: int = _MAX_TEXT) -> str:
    """``text`` cut to ``limit`` characters with control characters written as ``%XX``.

    A record must be storable on every backend (PostgreSQL refuses NUL in text), or a call
    with a NUL in its path or reason would go unrecorded; and a log reader should not be
    fed terminal escapes.
    """
    text = text[:limit]
    if _CONTROL.search(text) is None:
        return text
    return _CONTROL.sub(lambda m: f"%{ord(m.group()):02X}", text)


def _short(value: str | None) -> str | None:
    return None if value is None else printable(value)


def note(connection: Any, **fields: str | None) -> None:
    """Add ids or a reason to the call's audit record (``run_id=``, ``execution_id=``,
    ``world_id=``, ``reason=``, ``code=``). Never pass a secret or a body."""
    notes = notes_of(connection)
    for name, value in fields.items():
        if value is not None:
            setattr(notes, name, _short(value))


class _Ids(msgspec.Struct, frozen=True):
    run_id: str | None = None
    execution_id: str | None = None


_ids_decoder = msgspec.json.Decoder(_Ids)


def note_answer_ids(connection: Any, answer: bytes) -> None:
    """Note the ``run_id`` and ``execution_id`` of a JSON answer (the server may have
    chosen them). One pass over the answer; anything that is not an object is ignored."""
    try:
        ids = _ids_decoder.decode(answer)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return
    note(connection, run_id=ids.run_id, execution_id=ids.execution_id)


class _Batch:
    __slots__ = ("done", "error")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.error: Exception | None = None


class AuditTrail(Component):
    """Writes audit records (group commit) and reads them back a page at a time.

    Args:
        store: the audit log.
        nudge: wakes the outbox publisher after a write (its events are waiting).
        clock: the wall clock in seconds.
    """

    def __init__(
        self,
        store: AuditLog,
        nudge: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._nudge = nudge
        self.clock = clock
        self._pending: list[AuditRecord] = []
        self._batch = _Batch()
        self._writing = False
        #: Records written and transactions used (their ratio is the group-commit gain).
        self.written = 0
        self.commits = 0

    async def record(self, entry: AuditRecord) -> None:
        """Write ``entry`` durably; return once it is committed.

        Raises:
            Exception: the store's failure (the caller decides what to do about it).
        """
        self._pending.append(entry)
        batch = self._batch
        if self._writing:
            await batch.done.wait()
        else:
            self._writing = True
            try:
                # Shielded: a leader whose client went away still writes what it took on.
                with anyio.CancelScope(shield=True):
                    await self._drain()
            finally:
                self._writing = False
        if batch.error is not None:
            raise batch.error

    async def _drain(self) -> None:
        while self._pending:
            records, self._pending = self._pending, []
            batch, self._batch = self._batch, _Batch()
            try:
                await self._store.append_audit(records, [_event(r) for r in records])
                self.written += len(records)
                self.commits += 1
            except Exception as exc:  # handed to every writer of this batch
                batch.error = exc
            batch.done.set()
        if self._nudge is not None:
            self._nudge()

    async def page(self, query: AuditQuery) -> AuditPage:
        """One page of the audit log, oldest first, with the cursor of the next page."""
        wanted = query.limit
        rows = await self._store.read_audit(msgspec.structs.replace(query, limit=wanted + 1))
        more = len(rows) > wanted
        rows = rows[:wanted]
        after = rows[-1].seq if more and rows else None
        return AuditPage(
            entries=rows,
            next=next_cursor(AUDIT_CURSOR_KIND, after),
        )


def _event(record: AuditRecord) -> CloudEvent:
    event = new_event(AUDIT_RECORDED, EVENT_SOURCE_SECURITY, record, subject=record.world_id)
    return msgspec.structs.replace(event, id=record.id)
