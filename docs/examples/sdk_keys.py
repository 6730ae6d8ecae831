"""Keys and the audit log: create a scoped key, use it, see a refusal, revoke it, read the log.

Usage: python docs/examples/sdk_keys.py http://127.0.0.1:8000 <an admin key's secret>
"""

from __future__ import annotations

import sys
import uuid

from app.contracts.rebalancing import PositionSlice, RebalanceRequest
from app.sdk import ForbiddenScope, GatewayClient, Unauthorized


def main(base_url: str, admin_secret: str) -> int:
    """Give a notebook a key that may plan but not apply, then take it away again."""
    name = f"notebook-{uuid.uuid4().hex[:6]}"
    with GatewayClient(base_url, token=admin_secret) as admin:
        created = admin.create_key(name, ["read", "plan"], rate_per_minute=120,
                                   expires_at="2999-01-01T00:00:00Z")
        key = created.key  # .id ("key_3f9a1c2b7d4e"), .scopes, .state, .expires_at, ...
        print(f"created {key.name} with {', '.join(key.scopes)}")  # created.secret: once only
        request = RebalanceRequest(
            total_equity=100_000.0, world_alloc_before={"core": 0.5},
            world_alloc_after={"core": 0.25},
            positions=[PositionSlice(world_id="core", strategy_id="s", symbol="BTC", qty=1.0,
                                     mark=50_000.0)],
        )
        with GatewayClient(base_url, token=created.secret) as notebook:
            print(f"planned v{notebook.plan(request).schema_version}")
            try:
                notebook.apply(request)
            except ForbiddenScope as exc:  # a 403 naming the scope the key lacks
                print(f"apply refused: needs {exc.missing_scope}")
            revoked = admin.revoke_key(key.id, reason="the notebook is done")
            print(f"now {revoked.state}")
            try:
                notebook.plan(request)
            except Unauthorized as exc:  # 401 on every process within about a second
                print(f"refused: {exc.code}")
        listed = [k.id for k in admin.list_keys()]  # never a secret
        print(f"listed: {key.id in listed}, state {admin.get_key(key.id).state}")
        for record in admin.audit(key=key.id):  # every page, oldest first
            print(f"audit: {record.method} {record.route} {record.status} {record.outcome}")
        page = admin.audit_page(route="/keys", limit=100)  # one page; page.next: the cursor
        print(f"key creations on the first page: {len(page.entries)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
