"""Bearer-token authentication for mutating routes and ``WS /events``."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Sequence
from typing import Any

import msgspec
import structlog
from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.exceptions import WebSocketException
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Guard, Message, Scope, Send
from litestar.types.asgi_types import WebSocketResponseBodyEvent, WebSocketResponseStartEvent

from app.errors import Code, UnauthorizedError
from app.settings import Settings
from app.web.errors import error_body

__all__ = [
    "ANONYMOUS_ACTOR",
    "MUTATING_OPT",
    "SENSITIVE_OPT",
    "WS_UNAUTHORIZED_CLOSE_CODE",
    "actor_of",
    "http_denial_for_websockets",
    "is_loopback",
    "token_guard",
    "token_ok",
    "warn_if_open",
]

log = structlog.get_logger(__name__)

#: The ``opt`` key a route handler sets (``opt={"mutating": True}``) to require a token.
MUTATING_OPT = "mutating"
#: The ``opt`` key of a read that discloses the running configuration (``GET /status``): it
#: requires a token too.
SENSITIVE_OPT = "sensitive"
#: Close code sent to a WebSocket refused for a missing or wrong token (4000 + HTTP 401).
WS_UNAUTHORIZED_CLOSE_CODE = 4401

_SCHEME = "bearer"
_WS_DENIAL_EXTENSION = "websocket.http.response"
_WS_DENIAL_DETAIL = "A valid bearer token is required (Authorization: Bearer <token>)."


def token_ok(authorization_header: str | None, tokens: Sequence[str]) -> bool:
    """Say whether an ``Authorization`` header carries one of the configured tokens.

    Every configured token is compared (in constant time, ``hmac.compare_digest``) even after
    a match, so the answer time does not reveal which token matched or how much of one did.

    Args:
        authorization_header: the raw header value (``"Bearer <token>"``), or None.
        tokens: the accepted tokens; an empty list means authentication is off (open).

    Returns:
        True when no tokens are configured, or the header is ``Bearer`` with a listed token.
    """
    if not tokens:
        return True
    if not authorization_header:
        return False
    scheme, _, presented = authorization_header.strip().partition(" ")
    if scheme.lower() != _SCHEME:
        return False
    candidate = presented.strip().encode("utf-8", "surrogateescape")
    matched = False
    for token in tokens:
        matched |= hmac.compare_digest(candidate, token.encode("utf-8", "surrogateescape"))
    return matched and bool(candidate)


#: The actor recorded for a change made while authentication is off (no tokens configured).
ANONYMOUS_ACTOR = "anonymous"


def actor_of(authorization_header: str | None, tokens: Sequence[str]) -> str:
    """Name who made a change, for audit records, without ever recording a secret.

    Today the caller is identified by the bearer token it presented, so the actor is
    ``token:`` plus the first 12 hex digits of the token's SHA-256: stable per token,
    useless to an attacker. Scoped API keys will put their key id here instead.

    Args:
        authorization_header: the raw ``Authorization`` header, or None.
        tokens: the configured tokens; empty = authentication off.

    Returns:
        ``token:<fingerprint>``, or ``anonymous`` when authentication is off or no bearer
        token was presented.
    """
    if not tokens or not authorization_header:
        return ANONYMOUS_ACTOR
    scheme, _, presented = authorization_header.strip().partition(" ")
    value = presented.strip()
    if scheme.lower() != _SCHEME or not value:
        return ANONYMOUS_ACTOR
    digest = hashlib.sha256(value.encode("utf-8", "surrogateescape")).hexdigest()
    return f"token:{digest[:12]}"


def token_guard(tokens: Sequence[str]) -> Guard:
    """Build the app-wide guard that protects handlers marked ``opt={"mutating": True}``
    (or ``{"sensitive": True}``).

    HTTP requests without a valid token get 401 ``E_UNAUTHORIZED`` (SPEC §10 body, with a
    ``WWW-Authenticate: Bearer`` header); WebSocket connections are closed before accept
    with code 4401.

    Args:
        tokens: the accepted bearer tokens; empty = every request passes.

    Returns:
        A Litestar guard for ``Litestar(guards=[...])``.
    """
    accepted = tuple(tokens)

    # Async on purpose: Litestar runs a sync guard in a worker thread, one hop per request.
    async def require_token(
        connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
    ) -> None:
        if not accepted or not (handler.opt.get(MUTATING_OPT) or handler.opt.get(SENSITIVE_OPT)):
            return
        if token_ok(connection.headers.get("authorization"), accepted):
            return
        # Never log the presented value: it may be a real token with a typo.
        log.warning(
            "auth_rejected",
            path=connection.scope.get("path_template") or connection.url.path,
            client=connection.client.host if connection.client else None,
        )
        if connection.scope["type"] == ScopeType.WEBSOCKET:
            raise WebSocketException(detail=_WS_DENIAL_DETAIL, code=WS_UNAUTHORIZED_CLOSE_CODE)
        raise UnauthorizedError(
            "A valid bearer token is required (Authorization: Bearer <token>).",
            headers={"WWW-Authenticate": 'Bearer realm="worldgate"'},
        )

    return require_token


def is_loopback(host: str) -> bool:
    """Say whether a bind address only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def warn_if_open(settings: Settings) -> bool:
    """Log a warning when no tokens are configured and the server listens beyond loopback.

    Returns:
        True when the warning was logged.
    """
    if settings.security.api_tokens or is_loopback(settings.server.host):
        return False
    log.warning(
        "auth_disabled_on_public_address",
        host=settings.server.host,
        hint="set security.api_tokens (WORLDGATE__SECURITY__API_TOKENS='[\"...\"]')",
    )
    return True


def http_denial_for_websockets(scope: Scope, send: Send) -> Send:
    """Wrap a WebSocket ``send`` so a token refusal becomes an HTTP 401 where possible.

    A refusal before accept is a close with code 4401. When the server supports the ASGI
    ``websocket.http.response`` extension (uvicorn does), the handshake is answered with a
    real ``401`` carrying the SPEC §10 body and ``WWW-Authenticate`` instead of the bare 403
    a server sends for an early close.

    Args:
        scope: the connection's ASGI scope.
        send: the server's ``send``.

    Returns:
        The ``send`` to hand to the app.
    """
    if _WS_DENIAL_EXTENSION not in (scope.get("extensions") or {}):
        return send
    accepted = False

    async def deny_or_send(message: Message) -> None:
        nonlocal accepted
        kind = message["type"]
        if kind == "websocket.accept":
            accepted = True
        elif (
            kind == "websocket.close"
            and not accepted
            and message.get("code") == WS_UNAUTHORIZED_CLOSE_CODE
        ):
            body = msgspec.json.encode(error_body(401, Code.UNAUTHORIZED, _WS_DENIAL_DETAIL))
            start: WebSocketResponseStartEvent = {
                "type": "websocket.http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", b'Bearer realm="worldgate"'),
                ],
            }
            end: WebSocketResponseBodyEvent = {
                "type": "websocket.http.response.body",
                "body": body,
                "more_body": False,
            }
            await send(start)
            await send(end)
            return
        await send(message)

    return deny_or_send
