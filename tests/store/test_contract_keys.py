"""The Store contract for API keys and the audit log (``KeyStore``, ``AuditLog``), run
against every adapter in ``conftest.STORE_FACTORIES`` (the rest is in ``test_contract``)."""

from __future__ import annotations

import time
import uuid

import anyio
import msgspec
import pytest

from app.contracts.audit import AuditRecord
from app.contracts.events import AUDIT, AUDIT_RECORDED, EVENT_SOURCE_SECURITY, new_event
from app.contracts.keys import ApiKey
from app.contracts.risk import iso_time
from app.errors import ConflictError
from app.store.ports import AuditQuery, Store

pytestmark = pytest.mark.anyio


def key(key_id: str, secret_hash: str, **fields: object) -> ApiKey:
    return ApiKey(id=key_id, name=f"{key_id} name", scopes=["read", "plan"],
                  secret_sha256=secret_hash, created_at=time.time(), created_by="ops",
                  **fields)  # type: ignore[arg-type]


def record(route: str = "/rebalancing/apply", key_id: str | None = "k1", **fields: object
           ) -> AuditRecord:
    now = time.time()
    base: dict[str, object] = {
        "id": uuid.uuid4().hex, "at": now, "time": iso_time(now), "key_id": key_id,
        "key_name": None if key_id is None else f"{key_id} name", "method": "POST",
        "route": route, "path": route, "status": 200, "outcome": "ok",
    }
    base.update(fields)
    return AuditRecord(**base)  # type: ignore[arg-type]


async def test_keys_are_inserted_listed_and_unique(store: Store) -> None:
    assert await store.list_keys() == []
    first = key("k1", "a" * 64, expires_at=time.time() + 60, rate_per_minute=5)
    await store.insert_key(first)
    await store.insert_key(key("k0", "b" * 64))
    assert [k.id for k in await store.list_keys()] == ["k0", "k1"]
    assert (await store.list_keys())[1] == first
    with pytest.raises(ConflictError):
        await store.insert_key(key("k1", "c" * 64))  # the id is taken
    with pytest.raises(ConflictError):
        await store.insert_key(key("k2", "a" * 64))  # the secret hash is taken
    assert len(await store.list_keys()) == 2


async def test_revocation_keeps_the_first_one_and_markers_are_stored(store: Store) -> None:
    await store.insert_key(key("k1", "a" * 64))
    revoked = await store.revoke_key("k1", 100.0, "ops")
    assert revoked is not None and revoked.revoked_at == 100.0 and revoked.revoked_by == "ops"
    again = await store.revoke_key("k1", 200.0, "someone")
    assert again is not None and (again.revoked_at, again.revoked_by) == (100.0, "ops")
    assert await store.revoke_key("nope", 1.0, "ops") is None
    marker = ApiKey(id="cfg", name="from config", scopes=[], secret_sha256="",
                    source="config", revoked_at=5.0, revoked_by="ops")
    assert await store.revoke_key("cfg", 5.0, "ops", absent=marker) == marker
    other = ApiKey(id="cfg2", name="two", scopes=[], secret_sha256="", source="legacy",
                   revoked_at=6.0, revoked_by="ops")
    await store.revoke_key("cfg2", 6.0, "ops", absent=other)  # two empty hashes may coexist
    assert {k.id for k in await store.list_keys()} == {"k1", "cfg", "cfg2"}


async def test_audit_records_are_appended_in_order_with_their_events(store: Store) -> None:
    records = [record(), record("/risk/state", reason="drill", world_id=None),
               record("/keys", key_id=None, status=401, outcome="denied", code="E_UNAUTHORIZED")]
    events = [new_event(AUDIT_RECORDED, EVENT_SOURCE_SECURITY, r) for r in records]
    await store.append_audit(records, events)
    back = await store.read_audit(AuditQuery())
    assert [r.id for r in back] == [r.id for r in records]
    seqs = [r.seq for r in back]
    assert all(s is not None for s in seqs) and seqs == sorted(seqs)
    assert back[1].reason == "drill" and back[2].code == "E_UNAUTHORIZED"
    assert back[0] == msgspec.structs.replace(records[0], seq=back[0].seq)  # every field kept
    logged = await store.events_since(0, [AUDIT], 10)
    assert [e.event.id for e in logged] == [e.id for e in events]


async def test_audit_filters_and_paging(store: Store) -> None:
    old = time.time() - 3600
    await store.append_audit([record(at=old, time=iso_time(old))], [])
    mixed = [record("/risk/state", key_id="k2"), record(), record(outcome="denied", status=403),
             record("/keys", key_id="k2")]
    await store.append_audit(mixed, [])
    assert len(await store.read_audit(AuditQuery())) == 5
    by_key = await store.read_audit(AuditQuery(key_id="k2"))
    assert [r.route for r in by_key] == ["/risk/state", "/keys"]
    by_route = await store.read_audit(AuditQuery(route="/rebalancing/apply"))
    assert len(by_route) == 3
    assert len(await store.read_audit(AuditQuery(since=old + 60))) == 4
    assert len(await store.read_audit(AuditQuery(outcome="denied"))) == 1
    first = await store.read_audit(AuditQuery(limit=2))
    rest = await store.read_audit(AuditQuery(after=first[-1].seq or 0, limit=10))
    assert [r.id for r in first + rest] == [r.id for r in await store.read_audit(AuditQuery())]


async def test_concurrent_audit_appends_are_all_kept_in_seq_order(store: Store) -> None:
    async def append(n: int) -> None:
        await store.append_audit([record(reason=f"{n}-{i}") for i in range(5)], [])

    async with anyio.create_task_group() as tg:
        for n in range(8):
            tg.start_soon(append, n)
    back = await store.read_audit(AuditQuery(limit=1000))
    assert len(back) == 40
    for n in range(8):  # each batch stays together and in its order
        mine = [r.seq for r in back if (r.reason or "").startswith(f"{n}-")]
        assert mine == list(range(mine[0], mine[0] + 5))
