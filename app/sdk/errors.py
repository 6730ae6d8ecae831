"""Typed SDK exceptions: every Gateway error answer becomes one, carrying its ``E_`` code."""

from __future__ import annotations

from typing import Any

from app.errors import Code

__all__ = [
    "ConflictError",
    "ForbiddenScope",
    "InvalidRequest",
    "NotFound",
    "PermissionDenied",
    "PreconditionFailed",
    "PreviewExpired",
    "ProtocolError",
    "RateLimited",
    "RiskRejected",
    "SchemaVersionRequired",
    "SdkError",
    "ServerError",
    "StreamError",
    "Unauthorized",
    "Unreachable",
    "WorldgateError",
    "error_from_response",
]


class SdkError(Exception):
    """Base of every exception the SDK raises."""


class Unreachable(SdkError):
    """The Gateway could not be reached (connection refused, DNS, timeout)."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"{url} is unreachable: {reason}")
        self.url = url
        self.reason = reason


class StreamError(SdkError):
    """``WS /events`` sent an error frame (bad subscription, rate limit)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


class ProtocolError(SdkError):
    """The server answered 2xx with a body the SDK cannot decode."""


class WorldgateError(SdkError):
    """The server answered with an error body (``status``, ``code``, ``detail``, ``errors``).

    Attributes:
        status: the HTTP status.
        code: the ``E_...`` code (``E_HTTP_<status>`` when the body carried none).
        detail: the human sentence from the body.
        errors: the per-field ``{"path", "message"}`` items, possibly empty.
        body: the whole decoded body (extra figures live here).
    """

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        errors: list[dict[str, str]] | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.detail = detail
        self.errors = errors or []
        self.body = body or {}


class InvalidRequest(WorldgateError):
    """400/422: the request broke a rule of the contract."""


class SchemaVersionRequired(InvalidRequest):
    """400 ``E_SCHEMA_VERSION_REQUIRED``: the deployment only serves schema v2."""


class Unauthorized(WorldgateError):
    """401: an API key is required, or the one sent is unknown, revoked or expired."""


class PermissionDenied(WorldgateError):
    """403: the live guard, or a disabled feature, refused the call."""


class ForbiddenScope(PermissionDenied):
    """403 ``E_FORBIDDEN_SCOPE``: the API key lacks the scope the call needs."""

    @property
    def missing_scope(self) -> str | None:
        """The scope the call needs (``submit``, ``risk``, ...)."""
        found = self.body.get("missing_scope")
        return found if isinstance(found, str) else None


class RateLimited(WorldgateError):
    """429 ``E_RATE_LIMITED``: the key is over its requests per minute."""

    @property
    def retry_after(self) -> int | None:
        """Seconds to wait before the next call."""
        found = self.body.get("retry_after")
        return found if isinstance(found, int) else None


class NotFound(WorldgateError):
    """404: no such route or resource."""


class ConflictError(WorldgateError):
    """409: run id reuse with a different body, or a stale etag."""


class PreconditionFailed(WorldgateError):
    """412/428: an ``If-Match`` etag is stale or missing.

    For a submit whose orders would differ now, ``preview`` is the fresh preview the
    server stored; for a stale trading-state etag, ``current`` is the state as it is.
    """

    @property
    def preview(self) -> dict[str, Any] | None:
        """The fresh (or the right) preview, when the server sent one."""
        found = self.body.get("preview")
        return found if isinstance(found, dict) else None

    @property
    def current(self) -> dict[str, Any] | None:
        """The current trading state, when a state change was refused."""
        found = self.body.get("current")
        return found if isinstance(found, dict) else None


class PreviewExpired(WorldgateError):
    """410 ``E_PREVIEW_EXPIRED``: the preview is past its TTL; execute again."""


class RiskRejected(InvalidRequest):
    """422 ``E_RISK_REJECTED``: the pre-trade risk checks refused a submit; nothing was
    recorded. ``denied`` lists every denied order with its code."""

    @property
    def denied(self) -> list[dict[str, Any]]:
        """The denied orders (``world_id``, ``symbol``, ``quantity``, ``code``, ...)."""
        found = self.body.get("denied")
        return [d for d in found if isinstance(d, dict)] if isinstance(found, list) else []


class ServerError(WorldgateError):
    """5xx: the server or one of its dependencies cannot serve the call now."""


_BY_STATUS: dict[int, type[WorldgateError]] = {
    400: InvalidRequest,
    401: Unauthorized,
    403: PermissionDenied,
    404: NotFound,
    409: ConflictError,
    410: PreviewExpired,
    412: PreconditionFailed,
    422: InvalidRequest,
    428: PreconditionFailed,
    429: RateLimited,
}


def _error_items(value: object) -> list[dict[str, str]]:
    if not isinstance(value, list):
        return []
    return [
        {str(k): str(v) for k, v in item.items()} for item in value if isinstance(item, dict)
    ]


def error_from_response(status: int, body: object, text: str = "") -> WorldgateError:
    """Build the typed exception for an error answer.

    Args:
        status: the HTTP status (≥ 400).
        body: the decoded JSON body, or None when it was not JSON.
        text: the raw body text, used as the detail when the body is not a JSON error body.

    Returns:
        The most specific ``WorldgateError`` subclass for the status and code.
    """
    data = body if isinstance(body, dict) else {}
    code = str(data.get("code") or f"E_HTTP_{status}")
    raw_detail = data.get("detail")
    detail = str(raw_detail) if raw_detail is not None else (text.strip()[:200] or "no detail")
    cls: type[WorldgateError]
    if code == Code.SCHEMA_VERSION_REQUIRED:
        cls = SchemaVersionRequired
    elif code == Code.RISK_REJECTED:
        cls = RiskRejected
    elif code == Code.FORBIDDEN_SCOPE:
        cls = ForbiddenScope
    elif status >= 500:
        cls = ServerError
    else:
        cls = _BY_STATUS.get(status, WorldgateError)
    return cls(status, code, detail, _error_items(data.get("errors")), data)
