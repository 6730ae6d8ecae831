"""Who is calling and what they may do: route scopes, the caller's principal, refusals.

Every route declares the scope it needs in its ``opt`` (``opt={"scope": "apply"}``); a
``GET`` route that declares none needs ``read``, and a route marked ``opt={"public": True}``
(``/health``, ``/ready``, ``/worldservice/capabilities``, ``/metrics``, ``/schema``) needs
no key at all. The access-control
middleware (``app.web.access_control``) authenticates the key, checks the scope and puts
the caller's :class:`Principal` on the connection, where handlers read it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any, Final

import msgspec
import structlog
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Message, Scope, Send
from litestar.types.asgi_types import WebSocketResponseBodyEvent, WebSocketResponseStartEvent

from app.contracts.keys import SCOPES
from app.errors import AppError, Code
from app.settings import Settings
from app.web.audit import note
from app.web.errors import error_body

__all__ = [
    "ANONYMOUS",
    "ANONYMOUS_ACTOR",
    "PUBLIC_OPT",
    "SCOPE_NOTE_OPT",
    "SCOPE_OPT",
    "WS_FORBIDDEN_CLOSE_CODE",
    "WS_RATE_LIMITED_CLOSE_CODE",
    "WS_UNAUTHORIZED_CLOSE_CODE",
    "Denial",
    "Principal",
    "actor_of",
    "bearer_secret",
    "forbidden_scope",
    "http_denial_for_websockets",
    "is_loopback",
    "principal_of",
    "require_scope",
    "required_scope",
    "set_principal",
    "warn_if_open",
    "warn_legacy_tokens",
]

log = structlog.get_logger(__name__)

#: The ``opt`` key naming the scope a route needs (``opt={"scope": "submit"}``).
SCOPE_OPT: Final = "scope"
#: The ``opt`` key of routes anyone may call (``opt={"public": True}``).
PUBLIC_OPT: Final = "public"
#: The ``opt`` key of a sentence on a scope that depends on the request (the scope table
#: of the docs shows it), e.g. "also `submit` with `submit=true`".
SCOPE_NOTE_OPT: Final = "scope_note"
#: Close codes of a WebSocket refused before accept (4000 + the HTTP status).
WS_UNAUTHORIZED_CLOSE_CODE: Final = 4401
WS_FORBIDDEN_CLOSE_CODE: Final = 4403
WS_RATE_LIMITED_CLOSE_CODE: Final = 4429
#: The actor recorded for a change made while authentication is off (no keys at all).
ANONYMOUS_ACTOR: Final = "anonymous"

_SCHEME = "bearer"
_READ_METHODS = frozenset({"GET", "HEAD"})
_PRINCIPAL_KEY = "worldgate.principal"
_DENIAL_KEY = "worldgate.denial"
_WS_DENIAL_EXTENSION = "websocket.http.response"


class Principal:
    """The caller of one connection: its key (None when authentication is off) and scopes.

    Args:
        key_id: the key's id; None for the anonymous caller of an open deployment.
        name: the key's name.
        scopes: what it may do.
        rate_per_minute: its request budget (None or 0: unlimited).
    """

    __slots__ = ("key_id", "name", "rate_per_minute", "scopes")

    def __init__(
        self,
        key_id: str | None,
        name: str,
        scopes: Iterable[str],
        rate_per_minute: int | None = None,
    ) -> None:
        self.key_id = key_id
        self.name = name
        self.scopes = frozenset(scopes)
        self.rate_per_minute = rate_per_minute

    @property
    def actor(self) -> str:
        """Who this is in records: ``id (name)``, or ``anonymous``."""
        return ANONYMOUS_ACTOR if self.key_id is None else f"{self.key_id} ({self.name})"


#: The caller when authentication is off: every scope, no key, no limit.
ANONYMOUS: Final = Principal(None, ANONYMOUS_ACTOR, SCOPES)


class Denial(msgspec.Struct, frozen=True, kw_only=True):
    """A refusal the access control answers itself (401, 403, 429): ``reason`` is the
    short word the audit log keeps (``unknown_key``, ``key_revoked``, ``missing_scope``...);
    ``key_id``/``key_name`` name the key when one was recognised."""

    status: int
    code: str
    detail: str
    reason: str
    headers: dict[str, str] = msgspec.field(default_factory=dict)
    extra: dict[str, Any] = msgspec.field(default_factory=dict)
    key_id: str | None = None
    key_name: str | None = None


def bearer_secret(authorization_header: str | None) -> str | None:
    """The secret of an ``Authorization: Bearer <secret>`` header (scheme in any case);
    None when the header is missing, of another scheme or empty."""
    if not authorization_header:
        return None
    scheme, _, presented = authorization_header.strip().partition(" ")
    secret = presented.strip()
    if scheme.lower() != _SCHEME or not secret:
        return None
    return secret


def required_scope(handler: BaseRouteHandler, method: str | None) -> str | None:
    """The scope a route needs: its ``opt["scope"]``; ``read`` for an undeclared ``GET``
    (and the WebSocket); ``admin`` for any other undeclared route, so a route that forgot
    to say is closed rather than open. None for a public route."""
    opt = handler.opt
    if opt.get(PUBLIC_OPT):
        return None
    declared = opt.get(SCOPE_OPT)
    if isinstance(declared, str):
        return declared
    if method is None or method.upper() in _READ_METHODS:
        return "read"
    return "admin"


def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    """The caller of ``connection`` (``ANONYMOUS`` when authentication is off)."""
    found = connection.scope.get(_PRINCIPAL_KEY)
    return found if isinstance(found, Principal) else ANONYMOUS


def set_principal(scope: Scope, principal: Principal) -> None:
    """Put the authenticated caller on the connection's scope."""
    scope[_PRINCIPAL_KEY] = principal  # type: ignore[literal-required]


def actor_of(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """Name who made a change, for records: the key's ``id (name)``, never a secret."""
    return principal_of(connection).actor


def forbidden_scope(principal: Principal, scope: str) -> AppError:
    """The 403 ``E_FORBIDDEN_SCOPE`` of a key that lacks ``scope`` (named in the body)."""
    held = ", ".join(s for s in SCOPES if s in principal.scopes) or "none"
    return AppError(
        f"This call needs the scope `{scope}`; key {principal.key_id} ({principal.name}) "
        f"has: {held}.",
        code=Code.FORBIDDEN_SCOPE,
        status=403,
        extra={"missing_scope": scope},
    )


def require_scope(connection: ASGIConnection[Any, Any, Any, Any], scope: str) -> None:
    """Refuse the call (403 ``E_FORBIDDEN_SCOPE``) unless its caller holds ``scope``.

    For scopes that depend on the request (``submit=true`` on execute, ``execute: true``
    on allocations); the route's own scope was checked before the handler ran.
    """
    principal = principal_of(connection)
    if scope not in principal.scopes:
        note(connection, reason=f"missing_scope:{scope}")
        raise forbidden_scope(principal, scope)


def is_loopback(host: str) -> bool:
    """Say whether a bind address only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def warn_if_open(settings: Settings, enforcing: bool) -> bool:
    """Log a warning when no key exists and the server listens beyond loopback.

    Args:
        settings: the configuration (``server.host``).
        enforcing: whether any key exists (configured or stored).

    Returns:
        True when the warning was logged.
    """
    if enforcing or is_loopback(settings.server.host):
        return False
    log.warning(
        "auth_disabled_on_public_address",
        host=settings.server.host,
        hint="create an admin key (worldgate keys generate) and list it in [[security.keys]]",
    )
    return True


def warn_legacy_tokens(settings: Settings) -> bool:
    """Log a warning when ``security.api_tokens`` is set: each token holds every scope.

    Returns:
        True when the warning was logged.
    """
    count = len(settings.security.api_tokens)
    if not count:
        return False
    log.warning(
        "legacy_api_tokens_in_use",
        tokens=count,
        hint="every security.api_tokens entry holds every scope; create scoped keys "
        "(worldgate keys create --scope ...) and move clients to them",
    )
    return True


def deny_websocket(scope: Scope, denial: Denial) -> Message:
    """The close message refusing a WebSocket before accept; ``denial`` goes into the box
    :func:`http_denial_for_websockets` left on the scope, so it can answer it as HTTP."""
    box = scope.get(_DENIAL_KEY)
    if isinstance(box, list):
        box.append(denial)
    code = {401: WS_UNAUTHORIZED_CLOSE_CODE, 429: WS_RATE_LIMITED_CLOSE_CODE}.get(
        denial.status, WS_FORBIDDEN_CLOSE_CODE
    )
    return {"type": "websocket.close", "code": code, "reason": denial.detail[:120]}


def http_denial_for_websockets(scope: Scope, send: Send) -> Send:
    """Wrap a WebSocket ``send`` so a refusal before accept becomes a real HTTP answer.

    A refusal before accept is a close with code 4401, 4403 or 4429. When the server
    supports the ASGI ``websocket.http.response`` extension (uvicorn does), the handshake
    is answered instead with the HTTP status (401, 403, 429), the error body and its
    headers (``WWW-Authenticate``, ``Retry-After``) rather than the bare 403 a server sends
    for an early close.

    Args:
        scope: the connection's ASGI scope.
        send: the server's ``send``.

    Returns:
        The ``send`` to hand to the app.
    """
    if _WS_DENIAL_EXTENSION not in (scope.get("extensions") or {}):
        return send
    accepted = False
    # A list, not the denial itself: middleware further in may pass a copy of the scope on,
    # and a copy still holds this very list.
    box: list[Denial] = []
    scope[_DENIAL_KEY] = box  # type: ignore[literal-required]

    async def deny_or_send(message: Message) -> None:
        nonlocal accepted
        kind = message["type"]
        if kind == "websocket.accept":
            accepted = True
        elif kind == "websocket.close" and not accepted and box:
            denial = box[-1]
            body = msgspec.json.encode(
                error_body(denial.status, denial.code, denial.detail, extra=denial.extra)
            )
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *((k.lower().encode(), v.encode()) for k, v in denial.headers.items()),
            ]
            start: WebSocketResponseStartEvent = {
                "type": "websocket.http.response.start",
                "status": denial.status,
                "headers": headers,
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
