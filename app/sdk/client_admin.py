"""The key admin and audit-log methods of the Gateway clients (sync, async): scope ``admin``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterator
from typing import TypeVar

from app.contracts.audit import AuditPage, AuditRecord
from app.contracts.keys import KeyCreated, KeyList, KeyView
from app.sdk import calls
from app.sdk.calls import Call, as_type

__all__ = ["AdminMethods", "AsyncAdminMethods"]

T = TypeVar("T")
_view = as_type(KeyView)
_page = as_type(AuditPage)


def _create(
    name: str, scopes: list[str], expires_at: str | None, rate_per_minute: int | None
) -> Call[KeyCreated]:
    call = calls.create_key(name, scopes, expires_at=expires_at, rate_per_minute=rate_per_minute)
    return call.then(as_type(KeyCreated))


class AdminMethods(ABC):
    """API keys and the audit log for ``GatewayClient`` (blocking)."""

    @abstractmethod
    def _run(self, call: Call[T]) -> T:
        """Implemented by the class this is mixed into."""

    def create_key(
        self, name: str, scopes: list[str], *, expires_at: str | None = None,
        rate_per_minute: int | None = None,
    ) -> KeyCreated:
        """Create a key; ``.secret`` is in this answer only (the server keeps a hash).

        Args:
            name: a label for people (``ci-deployer``).
            scopes: among read, plan, apply, execute, submit, risk, admin.
            expires_at: an ISO 8601 time after which the key stops working.
            rate_per_minute: the key's request budget (0: unlimited).
        """
        return self._run(_create(name, scopes, expires_at, rate_per_minute))

    def list_keys(self) -> list[KeyView]:
        """Every key (configured, legacy, stored; revoked and expired ones too)."""
        return self._run(calls.list_keys().then(as_type(KeyList))).keys

    def get_key(self, key_id: str) -> KeyView:
        """One key (``NotFound`` with ``E_KEY_NOT_FOUND`` when unknown)."""
        return self._run(calls.get_key(key_id).then(_view))

    def revoke_key(self, key_id: str, reason: str | None = None) -> KeyView:
        """Revoke a key; every process of the deployment refuses it within seconds."""
        return self._run(calls.revoke_key(key_id, reason).then(_view))

    def audit_page(
        self, *, since: str | None = None, key: str | None = None, route: str | None = None,
        outcome: str | None = None, limit: int = 100, cursor: str | None = None,
    ) -> AuditPage:
        """One page of the audit log, oldest first (``next``: the following page)."""
        call = calls.audit(since=since, key=key, route=route, outcome=outcome, limit=limit,
                           cursor=cursor)
        return self._run(call.then(_page))

    def audit(
        self, *, since: str | None = None, key: str | None = None, route: str | None = None,
        outcome: str | None = None, page_size: int = 500,
    ) -> Iterator[AuditRecord]:
        """Every matching audit record, oldest first, page after page."""
        cursor: str | None = None
        while True:
            page = self.audit_page(since=since, key=key, route=route, outcome=outcome,
                                   limit=page_size, cursor=cursor)
            yield from page.entries
            if page.next is None:
                return
            cursor = page.next


class AsyncAdminMethods(ABC):
    """The same methods for ``AsyncGatewayClient``, awaited."""

    @abstractmethod
    async def _run(self, call: Call[T]) -> T:
        """Implemented by the class this is mixed into."""

    async def create_key(
        self, name: str, scopes: list[str], *, expires_at: str | None = None,
        rate_per_minute: int | None = None,
    ) -> KeyCreated:
        """Create a key; see ``GatewayClient.create_key``."""
        return await self._run(_create(name, scopes, expires_at, rate_per_minute))

    async def list_keys(self) -> list[KeyView]:
        """Every key."""
        return (await self._run(calls.list_keys().then(as_type(KeyList)))).keys

    async def get_key(self, key_id: str) -> KeyView:
        """One key."""
        return await self._run(calls.get_key(key_id).then(_view))

    async def revoke_key(self, key_id: str, reason: str | None = None) -> KeyView:
        """Revoke a key."""
        return await self._run(calls.revoke_key(key_id, reason).then(_view))

    async def audit_page(
        self, *, since: str | None = None, key: str | None = None, route: str | None = None,
        outcome: str | None = None, limit: int = 100, cursor: str | None = None,
    ) -> AuditPage:
        """One page of the audit log."""
        call = calls.audit(since=since, key=key, route=route, outcome=outcome, limit=limit,
                           cursor=cursor)
        return await self._run(call.then(_page))

    async def audit(
        self, *, since: str | None = None, key: str | None = None, route: str | None = None,
        outcome: str | None = None, page_size: int = 500,
    ) -> AsyncIterator[AuditRecord]:
        """Every matching audit record, oldest first, page after page."""
        cursor: str | None = None
        while True:
            page = await self.audit_page(since=since, key=key, route=route, outcome=outcome,
                                         limit=page_size, cursor=cursor)
            for entry in page.entries:
                yield entry
            if page.next is None:
                return
            cursor = page.next
