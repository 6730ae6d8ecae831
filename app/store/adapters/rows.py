"""Row encoding shared by the SQLite and PostgreSQL stores: row tuples → port records."""

from __future__ import annotations

from typing import Any

import msgspec

from app.contracts.events import CloudEvent
from app.errors import ConfigError
from app.store.ports import (
    AllocationRecord,
    AllocationRun,
    ExecutionRecord,
    StoredEvent,
    StoredPlan,
)

__all__ = [
    "allocation_record",
    "check_schema_version",
    "allocation_run",
    "encode_event",
    "encode_json",
    "execution_record",
    "stored_event",
    "stored_plan",
]

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
