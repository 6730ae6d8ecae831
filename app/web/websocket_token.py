"""A bearer token for ``WS /events`` from a browser, carried in ``Sec-WebSocket-Protocol``.

Browsers cannot set an ``Authorization`` header on a WebSocket, and a token in the URL ends
up in access logs. A browser client (the console) instead offers two subprotocols:
``worldgate.events`` and ``worldgate.bearer.<token as unpadded base64url>``. This middleware
turns the second into ``Authorization: Bearer <token>`` before the access control reads
the headers (unless the request already has one), removes it from the offered list, and
accepts the connection with ``worldgate.events`` so the browser's handshake check passes.
The token is never echoed back.
"""

from __future__ import annotations

import base64
import binascii
from typing import cast

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BEARER_SUBPROTOCOL_PREFIX", "EVENTS_SUBPROTOCOL", "BearerSubprotocolMiddleware",
           "token_from_subprotocol"]

EVENTS_SUBPROTOCOL = "worldgate.events"
BEARER_SUBPROTOCOL_PREFIX = "worldgate.bearer."


def token_from_subprotocol(value: str) -> str | None:
    """The token inside ``worldgate.bearer.<base64url>``, or None when it is not one."""
    if not value.startswith(BEARER_SUBPROTOCOL_PREFIX):
        return None
    encoded = value[len(BEARER_SUBPROTOCOL_PREFIX):]
    try:
        raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        token = raw.decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    return token if token and token.isprintable() else None


class BearerSubprotocolMiddleware(ASGIMiddleware):
    """Moves a ``worldgate.bearer.*`` subprotocol into the ``Authorization`` header."""

    scopes = (ScopeType.WEBSOCKET,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        """Rewrite the handshake's headers, then accept with ``worldgate.events``."""
        offered = [str(p) for p in cast("list[str]", scope.get("subprotocols") or [])]
        if not offered:
            await next_app(scope, receive, send)
            return
        bearer = [p for p in offered if p.startswith(BEARER_SUBPROTOCOL_PREFIX)]
        kept = [p for p in offered if not p.startswith(BEARER_SUBPROTOCOL_PREFIX)]
        headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"sec-websocket-protocol"]
        if kept:
            headers.append((b"sec-websocket-protocol", ", ".join(kept).encode("latin-1")))
        token = token_from_subprotocol(bearer[0]) if bearer else None
        has_authorization = any(k.lower() == b"authorization" for k, _ in headers)
        if token is not None and not has_authorization:
            headers.append((b"authorization", f"Bearer {token}".encode()))
        rewritten = cast("Scope", {**scope, "headers": headers, "subprotocols": kept})
        wants_events = EVENTS_SUBPROTOCOL in kept

        async def accept_with_subprotocol(message: Message) -> None:
            if (wants_events and message["type"] == "websocket.accept"
                    and not message.get("subprotocol")):
                message = cast("Message", {**message, "subprotocol": EVENTS_SUBPROTOCOL})
            await send(message)

        await next_app(rewritten, receive, accept_with_subprotocol)
