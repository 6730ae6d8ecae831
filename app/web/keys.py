"""API keys at run time: the key set every request is checked against, and its changes.

The set is the configured keys (``[[security.keys]]`` and the legacy ``api_tokens``) plus
the keys of the store, held in memory and looked up by the SHA-256 of the presented
secret: no store round trip per request. A background loop reloads the stored keys every
``security.key_refresh_seconds`` (1 s), so a key revoked or created through any process
of a deployment takes effect on every other one within that interval (plus one store
read); the process that made the change applies it at once.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from typing import Final

import anyio
import msgspec
import structlog
from anyio.abc import TaskGroup

from app.contracts.keys import SCOPES, ApiKey, KeyCreateRequest, Scope, epoch_of
from app.errors import Code, ConfigError, ConflictError, NotFoundError, ValidationFailedError
from app.runtime.lifecycle import Component
from app.settings import Settings
from app.store.ports import KeyStore
from app.web.auth import ANONYMOUS, Denial, Principal, bearer_secret

__all__ = ["KEY_ID_PREFIX", "SECRET_PREFIX", "KeyRing", "configured_keys", "secret_digest"]

log = structlog.get_logger(__name__)

#: Ids of keys created through the API start with this; secrets with ``SECRET_PREFIX``
#: (so a leaked one is easy to recognise in a scanner).
KEY_ID_PREFIX: Final = "key_"
SECRET_PREFIX: Final = "wgk_"
_BACKOFF_MAX = 10.0
_UNAUTHORIZED = {"WWW-Authenticate": 'Bearer realm="worldgate"'}


def secret_digest(secret: str) -> str:
    """The SHA-256 (hex) of a secret: the only form in which a key's secret is kept."""
    return hashlib.sha256(secret.encode("utf-8", "surrogateescape")).hexdigest()


def _scopes(values: Sequence[str], where: str) -> list[Scope]:
    unknown = sorted(set(values) - set(SCOPES))
    if unknown:
        raise ConfigError(f"{where}: unknown scope(s) {', '.join(unknown)}; "
                          f"known: {', '.join(SCOPES)}")
    return [s for s in SCOPES if s in values]


def configured_keys(settings: Settings) -> list[ApiKey]:
    """The keys of the configuration: ``[[security.keys]]`` and the legacy ``api_tokens``
    (each a key with every scope, id ``token:`` + the first 12 hex of its SHA-256).

    Raises:
        ConfigError: an unknown scope, or two keys with one id or one secret.
    """
    sec = settings.security
    keys: list[ApiKey] = []
    for index, entry in enumerate(sec.keys):
        keys.append(ApiKey(
            id=entry.id,
            name=entry.name,
            scopes=_scopes(entry.scopes, f"security.keys[{index}].scopes"),
            secret_sha256=entry.secret_sha256,
            source="config",
            expires_at=None if entry.expires_at is None else epoch_of(entry.expires_at),
            rate_per_minute=entry.rate_per_minute,
        ))
    for index, token in enumerate(sec.api_tokens):
        digest = secret_digest(token)
        keys.append(ApiKey(
            id=f"token:{digest[:12]}",
            name=f"security.api_tokens[{index}]",
            scopes=list(SCOPES),
            secret_sha256=digest,
            source="legacy",
        ))
    for attribute, what in (("id", "id"), ("secret_sha256", "secret")):
        seen: set[str] = set()
        for key in keys:
            value = getattr(key, attribute)
            if value in seen:
                raise ConfigError(f"security: two keys share one {what} ({key.id})")
            seen.add(value)
    return keys


class KeyRing(Component):
    """The key set of one process: authenticate, create, revoke, list.

    Args:
        store: where keys created through the API are kept.
        configured: the keys of the configuration (see :func:`configured_keys`).
        refresh_seconds: how often the stored keys are reloaded.
        default_rate_per_minute: the request budget of keys that set none (0: unlimited).
        clock: the wall clock in seconds.
    """

    def __init__(
        self,
        store: KeyStore,
        configured: Sequence[ApiKey] = (),
        *,
        refresh_seconds: float = 1.0,
        default_rate_per_minute: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._configured = {k.id: k for k in configured}
        self._refresh = refresh_seconds
        self._default_rate = default_rate_per_minute
        self._clock = clock
        self._by_id: dict[str, ApiKey] = {}
        self._by_hash: dict[str, ApiKey] = {}
        self._principals: dict[str, Principal] = {}
        self._stack = AsyncExitStack()
        self._tg: TaskGroup | None = None
        self._install([])

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Load the stored keys, then reload them every ``refresh_seconds``."""
        if self._tg is not None:
            return
        await self.refresh()
        self._tg = await self._stack.enter_async_context(anyio.create_task_group())
        self._tg.start_soon(self._run)
        log.info("keyring_started", keys=len(self._by_id), enforcing=self.enforcing)

    async def close(self) -> None:
        """Stop reloading."""
        tg, self._tg = self._tg, None
        if tg is not None:
            tg.cancel_scope.cancel()
            await self._stack.aclose()

    async def _run(self) -> None:
        delay = self._refresh
        while True:
            await anyio.sleep(delay)
            try:
                await self.refresh()
                delay = self._refresh
            except Exception as exc:  # keep the last good set; say so, retry with backoff
                delay = min(_BACKOFF_MAX, delay * 2)
                log.warning("key_refresh_failed", error=str(exc), retry_in=delay)

    async def refresh(self) -> None:
        """Reload the stored keys now."""
        self._install(await self._store.list_keys())

    def _install(self, stored: Sequence[ApiKey]) -> None:
        by_id = dict(self._configured)
        for row in stored:
            base = by_id.get(row.id)
            if base is None:
                by_id[row.id] = row
            elif row.source != "store" and row.revoked_at is not None:  # a revocation marker
                by_id[row.id] = msgspec.structs.replace(
                    base, revoked_at=row.revoked_at, revoked_by=row.revoked_by
                )
        # Built aside and swapped in one step each: a request never sees half a set.
        self._principals = {
            k.id: Principal(k.id, k.name, k.scopes, self._rate_of(k)) for k in by_id.values()
        }
        self._by_hash = {k.secret_sha256: k for k in by_id.values() if k.secret_sha256}
        self._by_id = by_id

    def _rate_of(self, key: ApiKey) -> int | None:
        rate = key.rate_per_minute if key.rate_per_minute is not None else self._default_rate
        return rate or None

    # -- per request -------------------------------------------------------------------

    def now(self) -> float:
        """The wall clock keys expire by."""
        return self._clock()

    @property
    def enforcing(self) -> bool:
        """True once any key exists (configured or stored, even revoked): from then on every
        non-public route needs a key. With no key at all the deployment is open."""
        return bool(self._by_id)

    def authenticate(self, authorization: str | None) -> Principal | Denial:
        """Who presents the ``Authorization`` header ``authorization``.

        Returns:
            The key's principal (``ANONYMOUS`` while no key exists), or the 401 refusal
            (no key, a malformed header, an unknown, revoked or expired key).
        """
        if not self._by_id:
            return ANONYMOUS
        secret = bearer_secret(authorization)
        if secret is None:
            reason = "missing" if not authorization else "malformed"
            return self._unauthorized(
                reason, "A valid API key is required (Authorization: Bearer <secret>)."
            )
        key = self._by_hash.get(secret_digest(secret))
        if key is None:
            return self._unauthorized("unknown_key", "The API key is not known.")
        state = key.state(self._clock())
        if state != "active":
            return self._unauthorized(f"key_{state}", f"The API key {key.id} is {state}.", key)
        return self._principals[key.id]

    @staticmethod
    def _unauthorized(reason: str, detail: str, key: ApiKey | None = None) -> Denial:
        return Denial(
            status=401, code=Code.UNAUTHORIZED, detail=detail, reason=reason,
            headers=_UNAUTHORIZED, key_id=None if key is None else key.id,
            key_name=None if key is None else key.name,
        )

    def is_active(self, key_id: str | None) -> bool:
        """Whether ``key_id`` may still be used now (None, the anonymous caller: while the
        deployment is open)."""
        if key_id is None:
            return not self._by_id
        key = self._by_id.get(key_id)
        return key is not None and key.state(self._clock()) == "active"

    # -- admin -------------------------------------------------------------------------

    def keys(self) -> list[ApiKey]:
        """Every key this process knows, by id."""
        return [self._by_id[k] for k in sorted(self._by_id)]

    async def get(self, key_id: str) -> ApiKey:
        """The key ``key_id`` (reloading once when this process does not know it yet).

        Raises:
            NotFoundError: 404 ``E_KEY_NOT_FOUND``.
        """
        if key_id not in self._by_id:
            await self.refresh()
        key = self._by_id.get(key_id)
        if key is None:
            raise NotFoundError(f"No API key has the id {key_id!r}.", code=Code.KEY_NOT_FOUND)
        return key

    async def create(self, request: KeyCreateRequest, creator: str) -> tuple[ApiKey, str]:
        """Create a key; return it and its secret (which is never kept).

        Raises:
            ValidationFailedError: 422 for an expiry in the past or a name with control
                characters.
        """
        now = self._clock()
        expires = None if request.expires_at is None else epoch_of(request.expires_at)
        if expires is not None and expires <= now:
            raise ValidationFailedError(
                "expires_at must be in the future.",
                errors=[{"path": "$.expires_at", "message": "must be in the future"}],
            )
        name = request.name.strip()
        if not name or not name.isprintable():
            raise ValidationFailedError(
                "name must be printable text.",
                errors=[{"path": "$.name", "message": "must be printable, not blank"}],
            )
        for _ in range(3):  # a random id or secret that is taken: draw again
            secret = SECRET_PREFIX + secrets.token_urlsafe(32)
            key = ApiKey(
                id=KEY_ID_PREFIX + secrets.token_hex(6),
                name=name,
                scopes=[s for s in SCOPES if s in request.scopes],
                secret_sha256=secret_digest(secret),
                created_at=now,
                created_by=creator,
                expires_at=expires,
                rate_per_minute=request.rate_per_minute,
            )
            if key.id in self._by_id:
                continue
            try:
                await self._store.insert_key(key)
            except ConflictError:
                continue
            await self.refresh()
            log.info("api_key_created", key_id=key.id, name=key.name, scopes=key.scopes,
                     by=creator)
            return key, secret
        raise ConflictError("Could not draw a free key id; try again.")  # pragma: no cover

    async def revoke(self, key_id: str, by: str) -> ApiKey:
        """Revoke a key (again: no change). A configured key is revoked by a marker row in
        the store, which every process reads.

        Raises:
            NotFoundError: 404 ``E_KEY_NOT_FOUND``.
        """
        key = await self.get(key_id)
        absent = None
        if key.source != "store":
            absent = ApiKey(id=key.id, name=key.name, scopes=[], secret_sha256="",
                            source=key.source, revoked_at=self._clock(), revoked_by=by)
        await self._store.revoke_key(key_id, self._clock(), by, absent=absent)
        await self.refresh()
        log.warning("api_key_revoked", key_id=key_id, name=key.name, by=by)
        return self._by_id[key_id]
