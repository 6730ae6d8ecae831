"""API keys: the scopes a key may hold, the stored key (only a hash of its secret), and the
wire shapes of the key admin API (``/keys``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Final, Literal

import msgspec

from app.contracts.risk import iso_time

__all__ = [
    "KEY_SOURCES",
    "SCOPES",
    "ApiKey",
    "KeyCreateRequest",
    "KeyCreated",
    "KeyList",
    "KeyRevokeRequest",
    "KeySource",
    "KeyState",
    "KeyView",
    "Scope",
    "epoch_of",
]

Scope = Literal["read", "plan", "apply", "execute", "submit", "risk", "admin"]
#: Every scope, in the order the docs and ``worldgate keys list`` show them.
SCOPES: Final[tuple[Scope, ...]] = (
    "read", "plan", "apply", "execute", "submit", "risk", "admin",
)
KeySource = Literal["store", "config", "legacy"]
#: Where a key comes from: created through ``POST /keys`` (the store), listed in
#: ``[[security.keys]]`` (config) or a plain ``security.api_tokens`` entry (legacy).
KEY_SOURCES: Final[tuple[KeySource, ...]] = ("store", "config", "legacy")
KeyState = Literal["active", "revoked", "expired"]

KeyName = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]


def epoch_of(moment: datetime) -> float:
    """Epoch seconds of ``moment``; a time without a zone is read as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


class KeyView(msgspec.Struct, frozen=True, kw_only=True):
    """A key as ``GET /keys`` shows it: never its secret, never the secret's hash."""

    id: str
    name: str
    scopes: list[Scope]
    source: KeySource
    state: KeyState
    created_at: str | None
    created_by: str | None = None
    expires_at: str | None = None
    revoked_at: str | None = None
    revoked_by: str | None = None
    rate_per_minute: int | None = None


class ApiKey(msgspec.Struct, frozen=True, kw_only=True):
    """A key as the server keeps it: the SHA-256 (hex) of its secret, never the secret.

    ``secret_sha256`` is empty for a revocation marker: a store row that revokes a key of
    the configuration (which the store cannot edit) under the same id.
    """

    id: str
    name: str
    scopes: list[Scope]
    secret_sha256: str
    source: KeySource = "store"
    created_at: float | None = None
    created_by: str | None = None
    expires_at: float | None = None
    revoked_at: float | None = None
    revoked_by: str | None = None
    rate_per_minute: int | None = None

    def state(self, now: float) -> KeyState:
        """``revoked``, ``expired`` (at or past ``expires_at``) or ``active`` at ``now``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and now >= self.expires_at:
            return "expired"
        return "active"

    @property
    def actor(self) -> str:
        """Who this key is in records (trading-state history, audit): ``id (name)``."""
        return f"{self.id} ({self.name})"

    def view(self, now: float) -> KeyView:
        """The key as the admin API shows it at ``now``."""
        return KeyView(
            id=self.id,
            name=self.name,
            scopes=list(self.scopes),
            source=self.source,
            state=self.state(now),
            created_at=None if self.created_at is None else iso_time(self.created_at),
            created_by=self.created_by,
            expires_at=None if self.expires_at is None else iso_time(self.expires_at),
            revoked_at=None if self.revoked_at is None else iso_time(self.revoked_at),
            revoked_by=self.revoked_by,
            rate_per_minute=self.rate_per_minute,
        )


class KeyCreateRequest(msgspec.Struct, frozen=True, kw_only=True):
    """``POST /keys``: a name (a label for people), the scopes, optionally an expiry and a
    request rate. The server picks the id and the secret."""

    name: KeyName
    scopes: Annotated[list[Scope], msgspec.Meta(min_length=1, max_length=len(SCOPES))]
    expires_at: datetime | None = None
    rate_per_minute: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] | None = None


class KeyRevokeRequest(msgspec.Struct, frozen=True, kw_only=True):
    """``POST /keys/{id}/revoke``: why (kept in the audit log)."""

    reason: Annotated[str, msgspec.Meta(max_length=500)] | None = None


class KeyCreated(msgspec.Struct, frozen=True, kw_only=True):
    """The answer of ``POST /keys``: the key and its secret, shown this once only."""

    key: KeyView
    secret: str


class KeyList(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /keys``: every key, revoked and expired ones included, by id."""

    keys: list[KeyView]
