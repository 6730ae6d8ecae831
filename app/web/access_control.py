"""The access-control middleware: authenticate the key, check the route's scope, apply the
key's request budget, and record every call that changes something (any scope but ``read``
and ``plan``) or is refused in the audit log.

It runs after routing (Litestar runs app middleware for matched routes), so it knows the
route and the scope it declares. Refusals are answered here, as ordinary error bodies, and
recorded before they are sent; an audited call's record is written when its answer
starts, before the first byte reaches the client.
"""

from __future__ import annotations

import math
import time
import uuid
from typing import Any, Final

import anyio
import msgspec
import structlog
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from app.contracts.audit import AuditRecord, Outcome
from app.contracts.risk import iso_time
from app.errors import Code
from app.telemetry import AppMetrics
from app.web.audit import AuditNotes, AuditTrail, notes_of, printable
from app.web.auth import (
    Denial,
    Principal,
    deny_websocket,
    forbidden_scope,
    required_scope,
    set_principal,
)
from app.web.errors import error_body
from app.web.keys import KeyRing
from app.web.rate_limit import KeyRateLimiter
from app.web.request_id import request_id_from

__all__ = ["AccessControlMiddleware", "CUT_OFF_STATUS"]

log = structlog.get_logger(__name__)

#: The status recorded for an audited call whose client went away before it answered.
CUT_OFF_STATUS: Final = 499
#: Calls needing only these scopes change nothing and are not recorded (unless refused):
#: reads, and plans (computed, never stored).
_UNAUDITED: Final = frozenset({"read", "plan"})
_AUTHORIZATION = b"authorization"
_DENIED = frozenset({401, 403})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def _outcome(status: int) -> Outcome:
    if status in _DENIED:
        return "denied"
    return "ok" if status < 400 else "failed"


class AccessControlMiddleware(ASGIMiddleware):
    """Scoped API keys, per-key limits and the audit trail, for HTTP and WebSocket routes.

    Args:
        keyring: the key set.
        audit: the audit trail.
        metrics: counts refusals, limits and audit failures.
        clock: the monotonic clock of the request budgets.
    """

    scopes = (ScopeType.HTTP, ScopeType.WEBSOCKET)

    def __init__(
        self,
        keyring: KeyRing,
        audit: AuditTrail,
        metrics: AppMetrics,
        clock: Any = time.monotonic,
    ) -> None:
        self.keyring = keyring
        self.audit = audit
        self.metrics = metrics
        self.limiter = KeyRateLimiter()
        self.clock = clock

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        """Admit, refuse or limit one connection; record it when it must be."""
        is_http = scope["type"] == ScopeType.HTTP
        method = str(scope.get("method", "GET")) if is_http else None
        need = required_scope(scope["route_handler"], method)
        if need is None:  # a public route
            await next_app(scope, receive, send)
            return
        found = self.keyring.authenticate(_header(scope, _AUTHORIZATION))
        if isinstance(found, Denial):
            await self._refuse(scope, send, found)
            return
        principal = found
        if need not in principal.scopes:
            error = forbidden_scope(principal, need)
            await self._refuse(scope, send, Denial(
                status=403, code=error.code, detail=error.detail, reason=f"missing_scope:{need}",
                extra=error.extra, key_id=principal.key_id, key_name=principal.name,
            ))
            return
        if principal.key_id is not None and principal.rate_per_minute:
            wait = self.limiter.take(principal.key_id, principal.rate_per_minute, self.clock())
            if wait is not None:
                await self._limit(scope, send, principal, wait)
                return
        set_principal(scope, principal)
        notes = notes_of(scope)
        if not is_http:
            try:
                await next_app(scope, receive, send)
            finally:
                if notes.denied is not None:  # the handler refused (a topic it may not read)
                    with anyio.CancelScope(shield=True):
                        await self._record(scope, principal, notes.denied, notes)
            return
        await self._serve_http(scope, receive, send, next_app, principal, need, notes)

    async def _serve_http(
        self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp,
        principal: Principal, need: str, notes: AuditNotes,
    ) -> None:
        audited = need not in _UNAUDITED
        recorded = False

        async def record_then_send(message: Message) -> None:
            nonlocal recorded
            if message["type"] == "http.response.start" and not recorded:
                status = int(message["status"])
                if audited or status in _DENIED:
                    recorded = True
                    await self._record(scope, principal, status, notes)
            await send(message)

        try:
            await next_app(scope, receive, record_then_send)
        finally:
            if audited and not recorded:  # cut off before it answered: still on record
                with anyio.CancelScope(shield=True):
                    notes.reason = notes.reason or "cut off before answering"
                    await self._record(scope, principal, CUT_OFF_STATUS, notes)

    # -- refusals ----------------------------------------------------------------------

    async def _refuse(self, scope: Scope, send: Send, denial: Denial) -> None:
        """Record a 401/403 refusal, log it (never the presented secret), answer it."""
        self.metrics.auth_refused(denial.status, denial.reason.partition(":")[0])
        log.warning(
            "auth_rejected",
            status=denial.status,
            reason=denial.reason,
            key_id=denial.key_id,
            route=scope.get("path_template"),
            client=(scope.get("client") or ("", 0))[0] or None,
        )
        notes = notes_of(scope)
        notes.reason = denial.reason
        notes.code = denial.code
        await self._record(scope, None, denial.status, notes, denial)
        await self._answer(scope, send, denial)

    async def _limit(self, scope: Scope, send: Send, principal: Principal, wait: float) -> None:
        """Answer 429 ``E_RATE_LIMITED`` with ``Retry-After`` (not audited: a flood of them
        would turn the limit into a write amplifier; they are counted instead)."""
        self.metrics.rate_limited()
        seconds = max(1, math.ceil(wait))
        await self._answer(scope, send, Denial(
            status=429, code=Code.RATE_LIMITED, reason="rate_limited",
            detail=f"Key {principal.key_id} is over its {principal.rate_per_minute} requests "
            f"per minute; retry in {seconds} s.",
            headers={"Retry-After": str(seconds)},
            extra={"retry_after": seconds},
        ))

    @staticmethod
    async def _answer(scope: Scope, send: Send, denial: Denial) -> None:
        if scope["type"] != ScopeType.HTTP:
            await send(deny_websocket(scope, denial))
            return
        body = msgspec.json.encode(
            error_body(denial.status, denial.code, denial.detail, extra=denial.extra)
        )
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *((k.lower().encode(), v.encode()) for k, v in denial.headers.items()),
        ]
        await send({"type": "http.response.start", "status": denial.status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    # -- the record ----------------------------------------------------------------------

    async def _record(
        self,
        scope: Scope,
        principal: Principal | None,
        status: int,
        notes: AuditNotes,
        denial: Denial | None = None,
    ) -> None:
        """Write the call's audit record; a store failure is logged and counted, and the
        answer still goes out (the call itself is done or refused already)."""
        now = self.audit.clock()
        key_id: str | None
        key_name: str | None
        if principal is not None:
            key_id, key_name = principal.key_id, principal.name
        else:
            key_id = denial.key_id if denial else None
            key_name = denial.key_name if denial else None
        client = scope.get("client")
        record = AuditRecord(
            id=uuid.uuid4().hex,
            at=now,
            time=iso_time(now),
            key_id=key_id,
            key_name=key_name,
            method=str(scope.get("method", "WEBSOCKET")),
            route=printable(str(scope.get("path_template") or scope.get("path", "")), 1000),
            path=printable(str(scope.get("path", "")), 1000),
            status=status,
            outcome=_outcome(status),
            code=notes.code,
            reason=notes.reason,
            run_id=notes.run_id,
            execution_id=notes.execution_id,
            world_id=notes.world_id,
            request_id=request_id_from(scope),
            client=client[0] if client else None,
        )
        try:
            await self.audit.record(record)
        except Exception as exc:
            self.metrics.audit_failed()
            log.error("audit_write_failed", error=str(exc), route=record.route,
                      status=status, key_id=key_id)
