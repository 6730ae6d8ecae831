"""Row encoding of API keys and audit records, shared by the SQLite and PostgreSQL stores."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import msgspec

from app.contracts.audit import AuditRecord
from app.contracts.keys import ApiKey, Scope
from app.contracts.risk import iso_time
from app.store.ports import AuditQuery

__all__ = [
    "AUDIT_COLS",
    "KEY_COLS",
    "api_key",
    "audit_filters",
    "audit_record",
    "audit_row",
    "key_row",
]

KEY_COLS: Final = (
    "id, name, scopes, secret_sha256, source, created_at, created_by, expires_at, revoked_at,"
    " revoked_by, rate_per_minute"
)
_AUDIT_FIELDS: Final = (
    "audit_id", "at", "key_id", "key_name", "method", "route", "path", "status", "outcome",
    "code", "reason", "run_id", "execution_id", "world_id", "request_id", "client",
)
#: The written columns of ``audit_log`` (``seq`` is assigned by the database).
AUDIT_COLS: Final = ", ".join(_AUDIT_FIELDS)
_scopes = msgspec.json.Decoder(list[Scope])
_encoder = msgspec.json.Encoder()


def key_row(key: ApiKey) -> tuple[Any, ...]:
    """An ``ApiKey`` as the values of ``KEY_COLS``."""
    return (
        key.id, key.name, _encoder.encode(key.scopes).decode(), key.secret_sha256, key.source,
        key.created_at, key.created_by, key.expires_at, key.revoked_at, key.revoked_by,
        key.rate_per_minute,
    )


def api_key(row: Sequence[Any]) -> ApiKey:
    """The values of ``KEY_COLS`` as an ``ApiKey``."""
    (key_id, name, scopes, secret, source, created_at, created_by, expires_at, revoked_at,
     revoked_by, rate) = row
    return ApiKey(
        id=key_id, name=name, scopes=_scopes.decode(scopes), secret_sha256=secret,
        source=source, created_at=created_at, created_by=created_by, expires_at=expires_at,
        revoked_at=revoked_at, revoked_by=revoked_by, rate_per_minute=rate,
    )


def audit_row(record: AuditRecord) -> tuple[Any, ...]:
    """An ``AuditRecord`` as the values of ``AUDIT_COLS``."""
    return (
        record.id, record.at, record.key_id, record.key_name, record.method, record.route,
        record.path, record.status, record.outcome, record.code, record.reason, record.run_id,
        record.execution_id, record.world_id, record.request_id, record.client,
    )


def audit_record(row: Sequence[Any]) -> AuditRecord:
    """``seq`` followed by the values of ``AUDIT_COLS`` as an ``AuditRecord``."""
    (seq, audit_id, at, key_id, key_name, method, route, path, status, outcome, code, reason,
     run_id, execution_id, world_id, request_id, client) = row
    return AuditRecord(
        id=audit_id, seq=seq, at=at, time=iso_time(at), key_id=key_id, key_name=key_name,
        method=method, route=route, path=path, status=status, outcome=outcome, code=code,
        reason=reason, run_id=run_id, execution_id=execution_id, world_id=world_id,
        request_id=request_id, client=client,
    )


def audit_filters(query: AuditQuery, mark: Any) -> tuple[str, list[Any]]:
    """The ``WHERE`` clause (without the keyword) and its arguments for ``query``.

    Args:
        query: what to read.
        mark: gives the placeholder of the n-th argument (``?`` or ``$n``).
    """
    args: list[Any] = [query.after]
    clauses = [f"seq > {mark(1)}"]
    for column, value in (
        ("at >=", query.since),
        ("key_id =", query.key_id),
        ("route =", query.route),
        ("outcome =", query.outcome),
    ):
        if value is not None:
            args.append(value)
            clauses.append(f"{column} {mark(len(args))}")
    return " AND ".join(clauses), args
