"""Store port: durable records and the event outbox, written atomically together."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

import msgspec

from app.contracts.audit import AuditRecord
from app.contracts.events import CloudEvent
from app.contracts.keys import ApiKey
from app.contracts.risk import RiskScope, RiskStates, TradingState, TradingStateRecord

__all__ = [
    "AllocationDecision",
    "AllocationPage",
    "AllocationRecord",
    "AllocationRun",
    "AllocationStore",
    "AuditLog",
    "AuditQuery",
    "EventLog",
    "ExecutionPage",
    "ExecutionRecord",
    "ExecutionStore",
    "KeyStore",
    "PlanPage",
    "PlanStore",
    "PreviewStore",
    "RiskChangeRecord",
    "RiskStateStore",
    "StateDecision",
    "Store",
    "StoredEvent",
    "StoredPlan",
    "StoredPreview",
]


class StoredPlan(msgspec.Struct, frozen=True, kw_only=True):
    """An applied plan. ``response`` is the encoded JSON answer given to the client, so a
    retry with the same ``run_id`` gets the very same bytes back."""

    run_id: str
    request_hash: str
    schema_version: int
    world_ids: list[str]
    response: bytes
    event_ids: list[str]
    created_at: float


class AllocationRecord(msgspec.Struct, frozen=True, kw_only=True):
    """The current allocation of one world."""

    world_id: str
    allocation: float
    run_id: str
    etag: str
    strategy_alloc_total: dict[str, float] | None
    updated_at: float


class AllocationRun(msgspec.Struct, frozen=True, kw_only=True):
    """One accepted ``POST /worldservice/allocations`` call (idempotent by ``run_id``)."""

    run_id: str
    request_hash: str
    etag: str
    world_ids: list[str]
    response: bytes
    created_at: float


class AllocationDecision(msgspec.Struct, frozen=True, kw_only=True):
    """What an allocation upsert writes, decided while the affected worlds are locked."""

    run: AllocationRun
    records: list[AllocationRecord]
    events: list[CloudEvent]


class ExecutionRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A submitted execution: all of its batches, recorded at once."""

    execution_id: str
    request_hash: str
    response: bytes
    batch_ids: list[str]
    world_ids: list[str]
    created_at: float


class AllocationPage(msgspec.Struct, frozen=True, kw_only=True):
    """One page of world allocations in ``world_id`` order; ``next`` is the world id to pass
    as ``after`` for the following page (None on the last page)."""

    records: list[AllocationRecord]
    next: str | None = None


class PlanPage(msgspec.Struct, frozen=True, kw_only=True):
    """One page of applied plans, newest first.

    ``next`` is the position to pass as ``before`` for the following page (None on the
    last page). Positions are the store's insertion order: stable while plans are added.
    """

    plans: list[StoredPlan]
    next: int | None = None


class ExecutionPage(msgspec.Struct, frozen=True, kw_only=True):
    """One page of submitted executions, newest first; ``next`` as in ``PlanPage``."""

    executions: list[ExecutionRecord]
    next: int | None = None


class StoredPreview(msgspec.Struct, frozen=True, kw_only=True):
    """An execution preview (``submit=false``): its answer, and the orders and holdings
    (``basis``, an encoded ``RiskBasis``) that a submit judges again."""

    execution_id: str
    request_hash: str
    etag: str
    response: bytes
    basis: bytes
    created_at: float
    expires_at: float


class RiskChangeRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One row of the trading-state history; ``seq`` increases with every change."""

    seq: int
    scope: RiskScope
    world_id: str
    state: TradingState
    previous_state: TradingState
    reason: str
    actor: str
    changed_at: float
    etag: str
    event_id: str


class StateDecision(msgspec.Struct, frozen=True, kw_only=True):
    """What a trading-state change writes: the new record and its event."""

    record: TradingStateRecord
    event: CloudEvent


class StoredEvent(msgspec.Struct, frozen=True, kw_only=True):
    """An event in the log; ``seq`` is global and increasing, ``event.seq`` equals it."""

    seq: int
    topic: str
    event: CloudEvent
    created_at: float
    published_at: float | None = None


class AuditQuery(msgspec.Struct, frozen=True, kw_only=True):
    """Which audit records to read: after ``after`` (a ``seq``), at or after ``since``
    (epoch seconds), of one key, one route template, one outcome; at most ``limit``."""

    after: int = 0
    since: float | None = None
    key_id: str | None = None
    route: str | None = None
    outcome: str | None = None
    limit: int = 100


class PlanStore(Protocol):
    """Applied plans."""

    async def save_plan(
        self, plan: StoredPlan, events: Sequence[CloudEvent]
    ) -> tuple[StoredPlan, bool]:
        """Insert ``plan`` and append ``events`` in one transaction.

        Returns ``(stored, True)`` when inserted; when ``plan.run_id`` already exists it
        writes nothing and returns ``(existing, False)``.
        """
        ...

    async def get_plan(self, run_id: str) -> StoredPlan | None:
        """Return the plan applied under ``run_id``."""
        ...

    async def list_plans(
        self, world_id: str | None, limit: int, before: int | None = None
    ) -> PlanPage:
        """Return up to ``limit`` applied plans, newest first, optionally only those touching
        ``world_id``, starting after position ``before`` (a page's ``next``; None = newest).
        Each page costs O(limit), however deep it is."""
        ...


class AllocationStore(Protocol):
    """World allocations and allocation runs."""

    async def get_allocations(
        self, world_ids: Sequence[str] | None = None
    ) -> dict[str, AllocationRecord]:
        """Return current records (all worlds when ``world_ids`` is None)."""
        ...

    async def list_allocations(self, limit: int, after: str | None = None) -> AllocationPage:
        """Return up to ``limit`` records in ``world_id`` order, after the world ``after``
        (None = from the first); each page costs O(limit)."""
        ...

    async def get_allocation_run(self, run_id: str) -> AllocationRun | None:
        """Return the run stored under ``run_id``."""
        ...

    async def apply_allocations(
        self,
        run_id: str,
        world_ids: Sequence[str],
        decide: Callable[[AllocationRun | None, dict[str, AllocationRecord]], AllocationDecision],
    ) -> tuple[AllocationRun, bool]:
        """Serialise upserts that touch the same worlds.

        With the run ``run_id`` (if stored) and the current records of ``world_ids`` locked,
        call the pure ``decide(existing_run, records)``. If ``decide`` returns the existing
        run unchanged (an idempotent retry) nothing is written and ``(run, False)`` is
        returned; otherwise its records, run and events are written in one transaction and
        ``(run, True)`` returned. ``decide`` may raise ``AppError`` (409, 422) to abort.
        """
        ...


class ExecutionStore(Protocol):
    """Submitted executions."""

    async def save_execution(
        self, execution: ExecutionRecord, events: Sequence[CloudEvent]
    ) -> tuple[ExecutionRecord, bool]:
        """Insert the execution and its events in one transaction (all batches or none).

        Returns ``(execution, True)`` when inserted. When ``execution_id`` is already stored
        with the same ``request_hash`` (an idempotent retry, or a concurrent twin that
        committed first) it writes nothing and returns ``(stored, False)``.

        Raises:
            ConflictError: ``execution_id`` is stored with another ``request_hash`` (409
                ``E_EXECUTION_CONFLICT``); nothing is written.
        """
        ...

    async def get_execution(self, execution_id: str) -> ExecutionRecord | None:
        """Return the execution stored under ``execution_id``."""
        ...

    async def list_executions(
        self, world_id: str | None, limit: int, before: int | None = None
    ) -> ExecutionPage:
        """Return up to ``limit`` executions, newest first, optionally only those with a
        batch for ``world_id``, starting after position ``before`` (as ``list_plans``)."""
        ...


class PreviewStore(Protocol):
    """Execution previews, kept until some time after they expire."""

    async def save_preview(self, preview: StoredPreview, prune_before: float) -> None:
        """Insert ``preview``; drop previews that expired before ``prune_before``."""
        ...

    async def get_preview(self, execution_id: str) -> StoredPreview | None:
        """Return the preview stored under ``execution_id``."""
        ...


class RiskStateStore(Protocol):
    """Trading states (global and per world), their history, and the order-rate buckets."""

    async def get_risk_states(self, world_ids: Sequence[str] | None = None) -> RiskStates:
        """Return the global state and the stored states of ``world_ids`` (every stored
        world when None); a scope never set is the default ``ACTIVE``."""
        ...

    async def set_risk_state(
        self,
        scope: RiskScope,
        world_id: str,
        decide: Callable[[TradingStateRecord], StateDecision],
    ) -> TradingStateRecord:
        """Change one state, serialised with every other change of it.

        With the current record locked (the default when never set), call the pure
        ``decide(current)``; write its record, a history row and its event in one
        transaction. ``decide`` may raise ``AppError`` (a stale etag) to write nothing.
        """
        ...

    async def risk_history(
        self, scope: RiskScope | None, world_id: str | None, limit: int, before: int | None
    ) -> list[RiskChangeRecord]:
        """Return up to ``limit`` changes newest first, with ``seq < before`` when given,
        of one scope (and one world) or of all when ``scope`` is None."""
        ...

    async def take_order_tokens(
        self, demand: Mapping[str, int], rate_per_minute: float, *, all_or_nothing: bool
    ) -> dict[str, int]:
        """Take up to ``demand[w]`` tokens from each world's bucket (capacity and refill:
        ``rate_per_minute`` per minute, full when new); return what was granted.
        ``all_or_nothing``: grant every demand in full, or nothing at all."""
        ...

    async def peek_order_tokens(
        self, world_ids: Sequence[str], rate_per_minute: float
    ) -> dict[str, int]:
        """Return the whole tokens each world's bucket holds now, taking none."""
        ...


class KeyStore(Protocol):
    """API keys created through the admin API (only a hash of each secret is kept)."""

    async def list_keys(self) -> list[ApiKey]:
        """Return every stored key (revoked ones and revocation markers included)."""
        ...

    async def insert_key(self, key: ApiKey) -> None:
        """Store a new key.

        Raises:
            ConflictError: a key with this id or this secret hash is stored already.
        """
        ...

    async def revoke_key(
        self, key_id: str, at: float, by: str, *, absent: ApiKey | None = None
    ) -> ApiKey | None:
        """Mark a key revoked at ``at`` by ``by`` (a key revoked before keeps its first
        revocation). When no key ``key_id`` is stored, store ``absent`` (a revocation
        marker of a configured key) if given. Return the stored key, or None."""
        ...


class AuditLog(Protocol):
    """The append-only audit log, written with its ``audit_recorded`` events."""

    async def append_audit(
        self, records: Sequence[AuditRecord], events: Sequence[CloudEvent]
    ) -> None:
        """Append ``records`` (in order) and ``events`` in one durable transaction."""
        ...

    async def read_audit(self, query: AuditQuery) -> list[AuditRecord]:
        """Return the records matching ``query`` in ``seq`` order, each with its ``seq``.

        Records become visible in ``seq`` order, so a reader paging with ``after`` never
        misses one committed later with a smaller ``seq``.
        """
        ...


class EventLog(Protocol):
    """The outbox and the retained event history."""

    async def claim_unpublished(
        self, limit: int, lease_seconds: float, owner: str
    ) -> list[StoredEvent]:
        """Lease up to ``limit`` unpublished events (seq order) to ``owner``.

        An event leased to a live publisher is not handed to another one; a lease that
        expires (its publisher died) makes the event claimable again (at-least-once).
        """
        ...

    async def mark_published(self, seqs: Sequence[int], owner: str) -> None:
        """Mark leased events published."""
        ...

    async def events_since(
        self, seq: int, topics: Sequence[str] | None, limit: int
    ) -> list[StoredEvent]:
        """Return retained events with ``seq`` greater than ``seq``, in seq order."""
        ...

    async def retained_range(self) -> tuple[int, int]:
        """Return ``(oldest_retained_seq, latest_seq)``; ``(0, 0)`` when the log is empty."""
        ...

    async def prune_events(self, max_count: int, max_age_seconds: float) -> int:
        """Drop published events beyond the retention; return how many were dropped."""
        ...

    async def outbox_backlog(self) -> int:
        """Return the number of events not yet published."""
        ...


class Store(
    PlanStore,
    AllocationStore,
    ExecutionStore,
    PreviewStore,
    RiskStateStore,
    KeyStore,
    AuditLog,
    EventLog,
    Protocol,
):
    """The whole store, as adapters implement it."""

    async def start(self) -> None:
        """Open connections and run migrations."""
        ...

    async def close(self) -> None:
        """Close connections."""
        ...

    async def ping(self) -> bool:
        """Return True when the store answers a read."""
        ...

    async def probe_write(self) -> bool:
        """Return True when a (tiny, non-durable) write transaction commits: what serving
        needs. A read-only file, a full disk or a read-only database make it False."""
        ...
