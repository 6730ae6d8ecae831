"""The catalogue of every error code (``E_...``) and the application errors that carry them.

Every 4xx/5xx body the server sends, every WebSocket error frame and every code the SDK
recognises is named here once; no other module spells an ``E_...`` string.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

__all__ = [
    "AppError",
    "Code",
    "ConfigError",
    "ConflictError",
    "ErrorItem",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PolicyRequiresV3Error",
    "PreconditionFailedError",
    "SchemaVersionRequiredError",
    "ServiceUnavailableError",
    "StoreInUseError",
    "UnauthorizedError",
    "ValidationFailedError",
    "code_for_status",
]

ErrorItem = dict[str, str]
"""One bad field: ``{"path": "$.positions[3].mark", "message": "must be > 0"}``."""


class Code(StrEnum):
    """Every error code of the wire contract (a ``str``: compares equal to its value)."""

    # Request shape and validation.
    BAD_REQUEST = "E_BAD_REQUEST"  # a 400 with no more specific code
    MALFORMED_JSON = "E_MALFORMED_JSON"  # the body is empty or not JSON
    VALIDATION = "E_VALIDATION"  # well-formed JSON that breaks a contract rule
    SCHEMA_VERSION_REQUIRED = "E_SCHEMA_VERSION_REQUIRED"  # v2 required, not asked for
    POLICY_REQUIRES_V3 = "E_POLICY_REQUIRES_V3"  # a policy in a request that negotiated < 3
    UNSUPPORTED_MEDIA_TYPE = "E_UNSUPPORTED_MEDIA_TYPE"
    PAYLOAD_TOO_LARGE = "E_PAYLOAD_TOO_LARGE"  # body bytes or item count over a limit
    METHOD_NOT_ALLOWED = "E_METHOD_NOT_ALLOWED"
    NOT_FOUND = "E_NOT_FOUND"
    REQUEST_TIMEOUT = "E_REQUEST_TIMEOUT"  # headers or body not sent in time (connection cut)
    OVERLAY_EXECUTION_AMBIGUOUS = "E_OVERLAY_EXECUTION_AMBIGUOUS"  # instrument in 2+ worlds
    # Authentication and permission.
    UNAUTHORIZED = "E_UNAUTHORIZED"  # bearer token missing or wrong
    PERMISSION_DENIED = "E_PERMISSION_DENIED"  # e.g. the live guard
    FORBIDDEN_SCOPE = "E_FORBIDDEN_SCOPE"  # the API key lacks the scope the call needs
    SHARED_ACCOUNT_DISABLED = "E_SHARED_ACCOUNT_DISABLED"
    SHARED_ACCOUNT_POLICY = "E_SHARED_ACCOUNT_POLICY"  # a shared-account limit breached
    RATE_LIMITED = "E_RATE_LIMITED"
    # Conflicts with stored state.
    CONFLICT = "E_CONFLICT"
    RUN_ID_CONFLICT = "E_RUN_ID_CONFLICT"  # a run_id re-sent with another body
    ETAG_MISMATCH = "E_ETAG_MISMATCH"  # a stale allocation etag
    EXECUTION_CONFLICT = "E_EXECUTION_CONFLICT"  # an execution id stored with another body
    PRECONDITION_FAILED = "E_PRECONDITION_FAILED"  # If-Match names a stale etag (412)
    PRECONDITION_REQUIRED = "E_PRECONDITION_REQUIRED"  # If-Match is required (428)
    # Pre-trade risk and two-phase execution.
    RISK_REJECTED = "E_RISK_REJECTED"  # a submit the risk checks refuse; nothing recorded
    PREVIEW_EXPIRED = "E_PREVIEW_EXPIRED"  # a preview past its TTL (410)
    # Things that do not exist.
    WORLD_NOT_FOUND = "E_WORLD_NOT_FOUND"
    EXECUTION_NOT_FOUND = "E_EXECUTION_NOT_FOUND"
    KEY_NOT_FOUND = "E_KEY_NOT_FOUND"
    PLAN_NOT_FOUND = "E_PLAN_NOT_FOUND"  # no plan applied under that run_id
    # Dependencies that cannot serve now.
    SERVICE_UNAVAILABLE = "E_SERVICE_UNAVAILABLE"
    STORE_UNAVAILABLE = "E_STORE_UNAVAILABLE"
    CONTROLBUS_UNAVAILABLE = "E_CONTROLBUS_UNAVAILABLE"
    WORLDSERVICE_UNAVAILABLE = "E_WORLDSERVICE_UNAVAILABLE"  # transport failure, 503/504
    WORLDSERVICE_BAD_RESPONSE = "E_WORLDSERVICE_BAD_RESPONSE"  # not a plan at all, 502
    EXECUTOR_UNAVAILABLE = "E_EXECUTOR_UNAVAILABLE"  # execute: true without a Gateway
    NOT_READY = "E_NOT_READY"
    INTERNAL = "E_INTERNAL"  # a bug: never a reaction to client input
    # WebSocket ``WS /events`` error frames.
    BAD_MESSAGE = "E_BAD_MESSAGE"
    BAD_SUBSCRIPTION = "E_BAD_SUBSCRIPTION"
    UNKNOWN_TOPIC = "E_UNKNOWN_TOPIC"
    UNSUPPORTED_SCHEMA_VERSION = "E_UNSUPPORTED_SCHEMA_VERSION"
    MESSAGE_TOO_BIG = "E_MESSAGE_TOO_BIG"
    REPLAY_FAILED = "E_REPLAY_FAILED"
    STREAM = "E_STREAM"  # the SDK's code for a stream error frame without a code


_BY_STATUS: dict[int, Code] = {
    400: Code.BAD_REQUEST,
    401: Code.UNAUTHORIZED,
    403: Code.PERMISSION_DENIED,
    404: Code.NOT_FOUND,
    405: Code.METHOD_NOT_ALLOWED,
    408: Code.REQUEST_TIMEOUT,
    409: Code.CONFLICT,
    412: Code.PRECONDITION_FAILED,
    413: Code.PAYLOAD_TOO_LARGE,
    415: Code.UNSUPPORTED_MEDIA_TYPE,
    422: Code.VALIDATION,
    428: Code.PRECONDITION_REQUIRED,
    429: Code.RATE_LIMITED,
    503: Code.SERVICE_UNAVAILABLE,
}


def code_for_status(status: int) -> Code:
    """The generic code of an HTTP status that has no more specific one."""
    found = _BY_STATUS.get(status)
    if found is not None:
        return found
    return Code.INTERNAL if status >= 500 else Code.BAD_REQUEST


class AppError(Exception):
    """Base of every error the API turns into an error body.

    Args:
        detail: a human sentence saying what went wrong.
        errors: optional list of ``{"path", "message"}`` items, one per bad field.
        code: overrides the class code.
        status: overrides the class HTTP status.
        extra: extra top-level fields of the body (figures, ids).
        headers: extra response headers (e.g. ``WWW-Authenticate`` on a 401).
    """

    status: int = 400
    code: str = Code.BAD_REQUEST

    def __init__(
        self,
        detail: str,
        *,
        errors: list[ErrorItem] | None = None,
        code: str | None = None,
        status: int | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.extra = extra or {}
        self.headers = headers or {}
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status


class ValidationFailedError(AppError):
    """The request is well-formed JSON but breaks a rule of the contract."""

    status = 422
    code = Code.VALIDATION


class SchemaVersionRequiredError(AppError):
    """The deployment requires schema v2 and the request did not ask for it."""

    status = 400
    code = Code.SCHEMA_VERSION_REQUIRED


class PolicyRequiresV3Error(AppError):
    """The request carries a rebalancing policy but negotiated a schema version below 3
    (a policy is never silently ignored)."""

    status = 422
    code = Code.POLICY_REQUIRES_V3


class PreconditionFailedError(AppError):
    """An ``If-Match`` precondition does not hold (the etag is stale)."""

    status = 412
    code = Code.PRECONDITION_FAILED


class ConflictError(AppError):
    """The request conflicts with stored state (run_id reuse, stale etag)."""

    status = 409
    code = Code.CONFLICT


class NotFoundError(AppError):
    """The named resource does not exist."""

    status = 404
    code = Code.NOT_FOUND


class UnauthorizedError(AppError):
    """A bearer token is required and was missing or wrong."""

    status = 401
    code = Code.UNAUTHORIZED


class PermissionDeniedError(AppError):
    """The caller may not do this (live guard, disabled feature)."""

    status = 403
    code = Code.PERMISSION_DENIED


class PayloadTooLargeError(AppError):
    """The request body or item count exceeds a configured limit."""

    status = 413
    code = Code.PAYLOAD_TOO_LARGE


class ServiceUnavailableError(AppError):
    """A dependency (store, bus, WorldService) cannot serve the request now."""

    status = 503
    code = Code.SERVICE_UNAVAILABLE


class ConfigError(Exception):
    """The configuration is invalid; raised at start-up, naming the key."""


class StoreInUseError(ConfigError):
    """Another process owns the store this one was configured to own (a start-up refusal)."""
