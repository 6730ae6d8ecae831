"""The key admin API (``/keys``) and the audit log (``GET /audit``): scope ``admin``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Final, Literal

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from app.contracts.audit import AUDIT_CURSOR_KIND, AuditPage, Outcome
from app.contracts.ids import MAX_ID_LENGTH, check_id
from app.contracts.keys import (
    SCOPES,
    KeyCreated,
    KeyCreateRequest,
    KeyList,
    KeyRevokeRequest,
    KeyView,
    epoch_of,
)
from app.errors import ValidationFailedError
from app.store.ports import AuditQuery
from app.web.audit import AuditTrail, note
from app.web.auth import actor_of
from app.web.decoding import decode_body, json_body, optional_json_body
from app.web.keys import KeyRing
from app.web.openapi_examples import KEY_CREATE_BODY, KEY_REVOKE_BODY
from app.web.pages import Limit, page_start

__all__ = ["admin_router"]

_ADMIN: Final = {"scope": "admin"}
_NO_STORE: Final = {"Cache-Control": "no-store"}
_encoder = msgspec.json.Encoder()


def _create_body(data: Annotated[KeyCreateRequest, KEY_CREATE_BODY]) -> None:  # pragma: no cover
    """Documents the create body in OpenAPI; the handler decodes the raw body itself."""


def _revoke_body(  # pragma: no cover - never called
    data: Annotated[KeyRevokeRequest | None, KEY_REVOKE_BODY],
) -> None:
    """Documents the revoke body in OpenAPI; the handler decodes the raw body itself."""


@post(
    "/keys",
    status_code=HTTP_201_CREATED,
    summary="Create an API key (its secret is in this answer only)",
    description=(
        "Body `{name, scopes, expires_at?, rate_per_minute?}`; scopes among "
        f"{', '.join(f'`{s}`' for s in SCOPES)}. The answer carries the key and its "
        "`secret`: only its SHA-256 is kept, so this is the one time it can be read. The "
        "key works on every process of the deployment within `security.key_refresh_seconds`."
    ),
    tags=["security"],
    opt=_ADMIN,
    dependencies={"create_body": Provide(_create_body, sync_to_thread=False)},
)
async def create_key(
    request: Request[Any, Any, Any], keyring: NamedDependency[KeyRing]
) -> Response[bytes]:
    """Answer ``POST /keys``."""
    body = decode_body(await json_body(request), KeyCreateRequest)
    key, secret = await keyring.create(body, actor_of(request))
    note(request, reason=f"created {key.id} ({key.name}): {', '.join(key.scopes)}")
    created = KeyCreated(key=key.view(keyring.now()), secret=secret)
    return Response(_encoder.encode(created), status_code=HTTP_201_CREATED,
                    media_type="application/json", headers=_NO_STORE)


@get("/keys", summary="List every API key (never a secret)", tags=["security"], opt=_ADMIN)
async def list_keys(keyring: NamedDependency[KeyRing]) -> KeyList:
    """Answer ``GET /keys``: configured, legacy and stored keys, revoked ones included."""
    now = keyring.now()
    return KeyList(keys=[k.view(now) for k in keyring.keys()])


@get("/keys/{key_id:str}", summary="One API key", tags=["security"], opt=_ADMIN)
async def get_key(key_id: FromPath[str], keyring: NamedDependency[KeyRing]) -> KeyView:
    """Answer ``GET /keys/{key_id}`` (404 ``E_KEY_NOT_FOUND``)."""
    return (await keyring.get(check_id(key_id, "$.key_id"))).view(keyring.now())


@post(
    "/keys/{key_id:str}/revoke",
    status_code=HTTP_200_OK,
    summary="Revoke an API key (every process refuses it within seconds)",
    description=(
        "Optional body `{reason}` (kept in the audit log). Revoking again changes nothing. "
        "A key of the configuration (`[[security.keys]]`, `security.api_tokens`) is revoked "
        "too, by a record in the store; remove it from the configuration at the next deploy."
    ),
    tags=["security"],
    opt=_ADMIN,
    dependencies={"revoke_body": Provide(_revoke_body, sync_to_thread=False)},
)
async def revoke_key(
    request: Request[Any, Any, Any], key_id: FromPath[str], keyring: NamedDependency[KeyRing]
) -> KeyView:
    """Answer ``POST /keys/{key_id}/revoke``."""
    key_id = check_id(key_id, "$.key_id")
    raw = await optional_json_body(request)
    reason = decode_body(raw, KeyRevokeRequest).reason if raw else None
    key = await keyring.revoke(key_id, actor_of(request))
    note(request, reason=f"revoked {key.id} ({key.name})" + (f": {reason}" if reason else ""))
    return key.view(keyring.now())


def _since(text: str | None) -> float | None:
    if text is None or not text.strip():
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return epoch_of(datetime.fromisoformat(text.strip()))
    except ValueError:
        raise ValidationFailedError(
            "since must be an ISO 8601 time (2024-05-01T12:00:00Z) or epoch seconds.",
            errors=[{"path": "$.since", "message": "not a time"}],
        ) from None


@get(
    "/audit",
    summary="The audit log: every call that changes something, every refused call",
    description=(
        "Filters: `since` (ISO 8601 time or epoch seconds), `key` (a key id), `route` (a "
        "route template such as `/risk/worlds/{world_id}`), `outcome` (ok, denied, failed). "
        "`limit` 1..1000 (default 100); pass the answer's `next` as `cursor` for the "
        "following page. Records never hold a secret or a request body."
    ),
    tags=["security"],
    opt=_ADMIN,
)
async def read_audit(
    audit_trail: NamedDependency[AuditTrail],
    since: Annotated[str | None, QueryParameter(name="since")] = None,
    key: Annotated[str | None, QueryParameter(name="key", max_length=MAX_ID_LENGTH)] = None,
    route: Annotated[str | None, QueryParameter(name="route", max_length=MAX_ID_LENGTH)] = None,
    outcome: Annotated[Literal["ok", "denied", "failed"] | None, QueryParameter()] = None,
    limit: Limit = 100,
    cursor: Annotated[str | None, QueryParameter(max_length=100)] = None,
) -> AuditPage:
    """Answer ``GET /audit``."""
    after = page_start(AUDIT_CURSOR_KIND, cursor) or 0
    # Both reach a store query: the identifier rule keeps NUL and the like out of it.
    key = check_id(key, "$.key") if key else None
    route = check_id(route, "$.route") if route else None
    chosen: Outcome | None = outcome
    query = AuditQuery(after=after, since=_since(since), key_id=key or None,
                       route=route or None, outcome=chosen, limit=limit)
    return await audit_trail.page(query)


def admin_router(
    *, keyring: Callable[[], KeyRing], audit_trail: Callable[[], AuditTrail]
) -> Router:
    """Build the router of ``/keys`` and ``/audit`` (mounted in every process).

    Args:
        keyring: gives the key set.
        audit_trail: gives the audit trail.
    """
    return Router(
        path="/",
        route_handlers=[create_key, list_keys, get_key, revoke_key, read_audit],
        dependencies={
            "keyring": Provide(lambda: keyring(), sync_to_thread=False),
            "audit_trail": Provide(lambda: audit_trail(), sync_to_thread=False),
        },
    )
