"""Application errors: each carries an SPEC §10 code and an HTTP status."""

from __future__ import annotations

from typing import Any

__all__ = [
    "AppError",
    "ConfigError",
    "ConflictError",
    "ErrorItem",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "SchemaVersionRequiredError",
    "ServiceUnavailableError",
    "UnauthorizedError",
    "ValidationFailedError",
]

ErrorItem = dict[str, str]


class AppError(Exception):
    """Base of every error the API turns into a SPEC §10 body.

    Args:
        detail: a human sentence saying what went wrong.
        errors: optional list of ``{"path", "message"}`` items, one per bad field.
        code: overrides the class code (``E_...``).
        status: overrides the class HTTP status.
        extra: extra top-level fields of the body (figures, ids).
        headers: extra response headers (e.g. ``WWW-Authenticate`` on a 401).
    """

    status: int = 400
    code: str = "E_BAD_REQUEST"

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

    def body(self) -> dict[str, Any]:
        """Return the SPEC §10 JSON body of this error."""
        out: dict[str, Any] = {"status": self.status, "code": self.code, "detail": self.detail}
        if self.errors:
            out["errors"] = self.errors
        out.update(self.extra)
        return out


class ValidationFailedError(AppError):
    """The request is well-formed JSON but breaks a rule of the contract."""

    status = 422
    code = "E_VALIDATION"


class SchemaVersionRequiredError(AppError):
    """The deployment requires schema v2 and the request did not ask for it."""

    status = 400
    code = "E_SCHEMA_VERSION_REQUIRED"


class ConflictError(AppError):
    """The request conflicts with stored state (run_id reuse, stale etag)."""

    status = 409
    code = "E_CONFLICT"


class NotFoundError(AppError):
    """The named resource does not exist."""

    status = 404
    code = "E_NOT_FOUND"


class UnauthorizedError(AppError):
    """A bearer token is required and was missing or wrong."""

    status = 401
    code = "E_UNAUTHORIZED"


class PermissionDeniedError(AppError):
    """The caller may not do this (live guard, disabled feature)."""

    status = 403
    code = "E_PERMISSION_DENIED"


class PayloadTooLargeError(AppError):
    """The request body or item count exceeds a configured limit."""

    status = 413
    code = "E_PAYLOAD_TOO_LARGE"


class ServiceUnavailableError(AppError):
    """A dependency (store, bus, WorldService) cannot serve the request now."""

    status = 503
    code = "E_SERVICE_UNAVAILABLE"


class ConfigError(Exception):
    """The configuration is invalid; raised at start-up, naming the key."""
