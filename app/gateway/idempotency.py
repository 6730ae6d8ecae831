"""Idempotent submits: keys, the execution ids derived from them, request fingerprints.

A submit made under a key (the ``Idempotency-Key`` header or the body's ``run_id``) gets
the execution id ``uuid5(namespace, key)``, so a retry finds the first one; an allocation
run executed with ``execute: true`` gets one derived from its ``run_id`` in another
namespace (a client key never collides with an allocation run).
"""

from __future__ import annotations

import hashlib
import uuid

import msgspec

from app.contracts.ids import check_id
from app.contracts.rebalancing import ExecuteRequest, RebalanceRequest
from app.errors import Code, ConflictError, ValidationFailedError

__all__ = [
    "Executed",
    "allocation_execution_id",
    "fingerprint",
    "idempotency_key",
    "key_conflict",
    "keyed_execution_id",
]

_canonical = msgspec.json.Encoder(order="sorted")
_RUN_NAMESPACE = uuid.UUID("6f1d8c2e-5a7b-4e0c-9d3f-2b8a1c4e7f60")
"""Namespace of execution ids derived from allocation ``run_id`` s (idempotent retries)."""
_KEY_NAMESPACE = uuid.UUID("0b7e9a52-3c61-4f2d-8e15-9a4d6c2b1f83")
"""Namespace of execution ids derived from execute idempotency keys."""


class Executed(msgspec.Struct, frozen=True, kw_only=True):
    """An execute answer: the JSON bytes, and whether they are a stored answer replayed."""

    content: bytes
    replayed: bool = False


def allocation_execution_id(run_id: str) -> str:
    """The execution id of an allocation run executed with ``execute: true``."""
    return str(uuid.uuid5(_RUN_NAMESPACE, run_id))


def keyed_execution_id(key: str) -> str:
    """The execution id of a submit made under an ``Idempotency-Key`` (or ``run_id``)."""
    return str(uuid.uuid5(_KEY_NAMESPACE, key))


def fingerprint(request: RebalanceRequest, **flags: bool) -> str:
    """Hash what an execute means: the request (without ``run_id`` and the negotiated
    ``schema_version``, ``mode`` lower-cased) and the flags that shape its orders.

    Bodies that decode to the same request (key order, whitespace, unknown fields) hash
    the same, so an idempotent retry need not repeat the bytes exactly.
    """
    meaning = msgspec.structs.replace(request, schema_version=None, mode=request.mode.lower())
    if isinstance(meaning, ExecuteRequest):
        meaning = msgspec.structs.replace(meaning, run_id=None)
    shape = ";".join(f"{name}={value}" for name, value in sorted(flags.items()))
    return hashlib.sha256(shape.encode() + b";" + _canonical.encode(meaning)).hexdigest()


def idempotency_key(request: RebalanceRequest, header: str | None) -> str | None:
    """The submit's idempotency key: the ``Idempotency-Key`` header or the body's ``run_id``.

    Raises:
        ValidationFailedError: the key is not a valid identifier, or the header and
            ``run_id`` disagree (422).
    """
    run_id = request.run_id if isinstance(request, ExecuteRequest) else None
    if header is None:
        return run_id
    check_id(header, "$.headers.Idempotency-Key")
    if run_id is not None and run_id != header:
        raise ValidationFailedError(
            "The Idempotency-Key header and the body's run_id name different keys.",
            errors=[{"path": "$.run_id", "message": "differs from Idempotency-Key"}],
        )
    return header


def key_conflict(key: str, execution_id: str | None) -> ConflictError:
    """409 ``E_EXECUTION_CONFLICT``: ``key`` was used to submit a different request."""
    return ConflictError(
        f"Idempotency key {key!r} was already used to submit a different request "
        "(another body or other query flags); nothing was submitted.",
        code=Code.EXECUTION_CONFLICT,
        extra={"execution_id": execution_id},
    )
