"""Allocation wire types: the upsert body, the snapshot view and its reader."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import msgspec

from app.contracts.ids import Identifier
from app.contracts.rebalancing import PlanInputs

__all__ = [
    "AllocationView",
    "AllocationsReadError",
    "AllocationsReply",
    "AllocationsRequest",
    "read_allocations",
]


class AllocationsRequest(PlanInputs, frozen=True, kw_only=True):
    """``POST /worldservice/allocations``: the new world allocations of one run.

    The before-allocations are not sent: they are the stored ones. Unknown fields are
    ignored (forward compatible).
    """

    run_id: Identifier
    world_allocations: dict[str, float]
    execute: bool = False
    etag: Identifier | None = None


class AllocationView(msgspec.Struct, frozen=True, kw_only=True):
    """One world's stored allocation as ``GET /worldservice/allocations`` shows it.

    Worldgate always sets every field; ``run_id``, ``etag``, ``updated_at`` and ``ttl`` may
    be null in a snapshot the Gateway read from a QMTL WorldService that left them out.
    ``ttl`` is how long a snapshot is fresh (``"300s"``); ``stale`` is true once it is older.
    """

    world_id: str
    allocation: float
    run_id: str | None
    etag: str | None
    strategy_alloc_total: dict[str, float] | None
    updated_at: float | None
    ttl: str | None
    stale: bool


class AllocationsReply(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /worldservice/allocations``: ``{"allocations": {world_id: view}, "next": ...}``.

    ``next`` is the cursor of the following page when the caller asked for a page
    (``limit``) and more worlds follow; otherwise null.
    """

    allocations: dict[str, AllocationView]
    next: str | None = None


class AllocationsReadError(ValueError):
    """A peer's answer is not an allocations snapshot (the message says why)."""


def _timestamp(raw: object) -> float | None:
    """Unix seconds of ``raw``: a number as is, an ISO-8601 string (QMTL's form) converted;
    a naive time is UTC."""
    if raw is None:
        return None
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return float(raw)
    if isinstance(raw, str):
        try:
            moment = datetime.fromisoformat(raw)
        except ValueError as exc:
            raise AllocationsReadError(f"updated_at is not an ISO-8601 time: {raw!r}") from exc
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    raise AllocationsReadError(f"updated_at is neither a number nor a time: {raw!r}")


def _snapshot(key: str, entry: object) -> dict[str, Any]:
    if not isinstance(entry, Mapping):
        raise AllocationsReadError(f"allocations[{key!r}] is not an object")
    out = dict(entry)
    if out.get("world_id") is None:
        out["world_id"] = key
    out["updated_at"] = _timestamp(out.get("updated_at"))
    for name in ("run_id", "etag", "strategy_alloc_total", "ttl"):
        out.setdefault(name, None)
    if out.get("stale") is None:
        out["stale"] = False
    return out


def read_allocations(content: bytes) -> AllocationsReply:
    """Read a WorldService's allocations snapshot leniently (a QMTL WorldService's too).

    A snapshot without ``world_id`` takes its key; a missing ``run_id``, ``etag``,
    ``strategy_alloc_total`` or ``ttl`` is null; ``updated_at`` may be Unix seconds or an
    ISO-8601 string (shown as Unix seconds); a missing ``stale`` is false.

    Raises:
        AllocationsReadError: the bytes are not JSON or not an allocations snapshot.
    """
    try:
        obj = msgspec.json.decode(content)
    except msgspec.DecodeError as exc:
        raise AllocationsReadError(f"the answer is not JSON: {exc}") from exc
    if not isinstance(obj, Mapping) or not isinstance(obj.get("allocations"), Mapping):
        raise AllocationsReadError("the answer has no allocations object")
    snapshots = {str(k): _snapshot(str(k), v) for k, v in obj["allocations"].items()}
    following = obj.get("next")  # the cursor of a paged answer; a peer without paging: none
    reply = {"allocations": snapshots, "next": following if isinstance(following, str) else None}
    try:
        return msgspec.convert(reply, AllocationsReply, strict=False)
    except msgspec.ValidationError as exc:
        raise AllocationsReadError(f"the answer does not match the snapshot: {exc}") from exc
