"""Row encoding shared by the SQLite and PostgreSQL stores: row tuples → port records."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from app.contracts.events import CloudEvent
from app.contracts.risk import TradingStateRecord
from app.errors import ConfigError
from app.store.ports import (
    AllocationRecord,
    AllocationRun,
    ExecutionRecord,
    RiskChangeRecord,
    StoredEvent,
    StoredPlan,
    StoredPreview,
)

__all__ = [
    "ALLOC_COLS",
    "EXECUTIONS_NEWEST_FIRST",
    "EXEC_COLS",
    "PLANS_NEWEST_FIRST",
    "PLAN_COLS",
    "RUN_COLS",
    "NewestFirst",
    "allocation_record",
    "check_schema_version",
    "allocation_run",
    "encode_event",
    "encode_json",
    "execution_record",
    "grant_tokens",
    "refill_tokens",
    "risk_change",
    "stored_preview",
    "trading_state",
    "stored_event",
    "stored_plan",
]

# The columns of each record, in the order its row function below reads them.
PLAN_COLS = "run_id, request_hash, schema_version, world_ids, response, event_ids, created_at"
ALLOC_COLS = "world_id, allocation, run_id, etag, strategy_alloc_total, updated_at"
RUN_COLS = "run_id, request_hash, etag, world_ids, response, created_at"
EXEC_COLS = "execution_id, request_hash, response, batch_ids, world_ids, created_at"
_NEWEST = 1 << 62  # above every position: the first page


@dataclass(frozen=True, slots=True)
class NewestFirst:
    """A listing newest first by a table's position column, for every world or, through the
    table's per-world index, for one; a page's cursor is the last row's position."""

    table: str
    position: str
    cols: str
    index: str
    index_position: str

    def query(self, world_id: str | None, limit: int, before: int | None,
              mark: Callable[[int], str]) -> tuple[str, tuple[Any, ...]]:
        """The SQL and its arguments of one page (one row more than ``limit``, to tell
        whether another page follows); ``mark(n)`` writes the n-th parameter marker."""
        start = _NEWEST if before is None else before
        if world_id is None:
            return (f"SELECT {self.position}, {self.cols} FROM {self.table}"
                    f" WHERE {self.position} < {mark(1)} ORDER BY {self.position} DESC"
                    f" LIMIT {mark(2)}", (start, limit + 1))
        cols = ", ".join(f"t.{c.strip()}" for c in f"{self.position}, {self.cols}".split(","))
        return (f"SELECT {cols} FROM {self.index} w JOIN {self.table} t"
                f" ON t.{self.position} = w.{self.index_position}"
                f" WHERE w.world_id = {mark(1)} AND w.{self.index_position} < {mark(2)}"
                f" ORDER BY w.{self.index_position} DESC LIMIT {mark(3)}",
                (world_id, start, limit + 1))

    @staticmethod
    def page(rows: Sequence[Sequence[Any]], limit: int) -> tuple[list[tuple[Any, ...]], int | None]:
        """The page's records' rows (without the position) and the next page's cursor."""
        more = len(rows) > limit
        kept = rows[:limit]
        return [tuple(r)[1:] for r in kept], (kept[-1][0] if more and kept else None)


PLANS_NEWEST_FIRST = NewestFirst("plans", "id", PLAN_COLS, "plan_worlds", "plan_id")
EXECUTIONS_NEWEST_FIRST = NewestFirst("executions", "seq", EXEC_COLS, "execution_worlds",
                                      "execution_seq")

_encoder = msgspec.json.Encoder()
_event_decoder = msgspec.json.Decoder(CloudEvent)
_str_list = msgspec.json.Decoder(list[str])
_float_map = msgspec.json.Decoder(dict[str, float])


def encode_json(value: Any) -> str:
    """Encode a JSON column."""
    return _encoder.encode(value).decode()


def encode_event(event: CloudEvent) -> bytes:
    """Encode an event for the log; its ``seq`` comes from the row, not the body."""
    return _encoder.encode(msgspec.structs.replace(event, seq=None))


def stored_event(row: tuple[Any, ...]) -> StoredEvent:
    """``seq, topic, body, created_at, published_at`` → StoredEvent with ``event.seq``."""
    seq, topic, body, created_at, published_at = row
    event = msgspec.structs.replace(_event_decoder.decode(body), seq=seq)
    return StoredEvent(
        seq=seq, topic=topic, event=event, created_at=created_at, published_at=published_at
    )


def stored_plan(row: tuple[Any, ...]) -> StoredPlan:
    """``run_id, request_hash, schema_version, world_ids, response, event_ids, created_at``."""
    run_id, request_hash, schema_version, world_ids, response, event_ids, created_at = row
    return StoredPlan(
        run_id=run_id,
        request_hash=request_hash,
        schema_version=schema_version,
        world_ids=_str_list.decode(world_ids),
        response=bytes(response),
        event_ids=_str_list.decode(event_ids),
        created_at=created_at,
    )


def allocation_record(row: tuple[Any, ...]) -> AllocationRecord:
    """``world_id, allocation, run_id, etag, strategy_alloc_total, updated_at``."""
    world_id, allocation, run_id, etag, strategies, updated_at = row
    return AllocationRecord(
        world_id=world_id,
        allocation=allocation,
        run_id=run_id,
        etag=etag,
        strategy_alloc_total=None if strategies is None else _float_map.decode(strategies),
        updated_at=updated_at,
    )


def allocation_run(row: tuple[Any, ...]) -> AllocationRun:
    """``run_id, request_hash, etag, world_ids, response, created_at``."""
    run_id, request_hash, etag, world_ids, response, created_at = row
    return AllocationRun(
        run_id=run_id,
        request_hash=request_hash,
        etag=etag,
        world_ids=_str_list.decode(world_ids),
        response=bytes(response),
        created_at=created_at,
    )


def execution_record(row: tuple[Any, ...]) -> ExecutionRecord:
    """``execution_id, request_hash, response, batch_ids, world_ids, created_at``."""
    execution_id, request_hash, response, batch_ids, world_ids, created_at = row
    return ExecutionRecord(
        execution_id=execution_id,
        request_hash=request_hash,
        response=bytes(response),
        batch_ids=_str_list.decode(batch_ids),
        world_ids=_str_list.decode(world_ids),
        created_at=created_at,
    )


def trading_state(row: tuple[Any, ...]) -> TradingStateRecord:
    """``scope, world_id, state, reason, actor, updated_at, version, etag``."""
    scope, world_id, state, reason, actor, updated_at, version, etag = row
    return TradingStateRecord(
        scope=scope, world_id=world_id, state=state, reason=reason, actor=actor,
        updated_at=updated_at, version=version, etag=etag,
    )


def risk_change(row: tuple[Any, ...]) -> RiskChangeRecord:
    """``seq, scope, world_id, state, previous_state, reason, actor, changed_at, etag,
    event_id``."""
    seq, scope, world_id, state, previous, reason, actor, changed_at, etag, event_id = row
    return RiskChangeRecord(
        seq=seq, scope=scope, world_id=world_id, state=state, previous_state=previous,
        reason=reason, actor=actor, changed_at=changed_at, etag=etag, event_id=event_id,
    )


def stored_preview(row: tuple[Any, ...]) -> StoredPreview:
    """``execution_id, request_hash, etag, response, basis, created_at, expires_at``."""
    execution_id, request_hash, etag, response, basis, created_at, expires_at = row
    return StoredPreview(
        execution_id=execution_id, request_hash=request_hash, etag=etag,
        response=bytes(response), basis=bytes(basis), created_at=created_at,
        expires_at=expires_at,
    )


def refill_tokens(
    tokens: float | None, updated_at: float | None, now: float, rate_per_minute: float
) -> float:
    """The tokens of an order-rate bucket at ``now``: refilled at ``rate_per_minute`` per
    minute up to one minute's worth; a bucket never used (``tokens`` None) is full."""
    if tokens is None or updated_at is None:
        return rate_per_minute
    refilled = tokens + max(0.0, now - updated_at) * rate_per_minute / 60.0
    return min(rate_per_minute, max(0.0, refilled))


def grant_tokens(
    demand: Mapping[str, int], available: Mapping[str, float], all_or_nothing: bool
) -> dict[str, int]:
    """What each world gets of its ``demand`` from its ``available`` tokens.

    ``all_or_nothing``: every demand in full, else nothing for anyone.
    """
    # A bucket refilled to 2.9999999999 holds 3 tokens, not 2: float noise is forgiven.
    granted = {w: min(n, int(available.get(w, 0.0) + 1e-9)) for w, n in demand.items()}
    if all_or_nothing and any(granted[w] < n for w, n in demand.items()):
        return dict.fromkeys(demand, 0)
    return granted


def check_schema_version(current: int, latest: int) -> None:
    """Refuse a store whose schema a newer Worldgate wrote (migrations only go forward).

    Raises:
        ConfigError: ``current`` is above ``latest``.
    """
    if current > latest:
        raise ConfigError(
            f"store schema version {current} is newer than this Worldgate supports "
            f"({latest}); upgrade Worldgate"
        )
