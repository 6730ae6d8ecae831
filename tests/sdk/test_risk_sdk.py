"""The SDK's trading-state and two-phase methods against a live app, sync and async."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from app.contracts.orders import ExecuteResponse
from app.sdk import (
    AsyncGatewayClient,
    GatewayClient,
    PreconditionFailed,
    PreviewExpired,
    RiskRejected,
)
from app.sdk.samples import sample_request
from tests.gateway.factories import request_body


def test_states_history_and_limits(live_server: Callable[..., str]) -> None:
    url = live_server({"gateway": {"risk": {"max_orders_per_execution": 3}}})
    with GatewayClient(url) as gw:
        before = gw.world_state("core")
        assert before.state == "ACTIVE" and before.world_id == "core"
        halted = gw.halt("drill", world_id="core")
        assert (halted.state, halted.scope, halted.actor) == ("HALTED", "world", "anonymous")
        with pytest.raises(PreconditionFailed) as stale:
            gw.set_risk_state("ACTIVE", "stale", world_id="core", etag=before.etag)
        assert stale.value.status == 412 and stale.value.current is not None
        assert stale.value.current["state"] == "HALTED"
        gw.reduce("global caution")
        state = gw.risk_state()
        assert state.global_.state == "REDUCING" and state.worlds["core"].state == "HALTED"
        gw.resume("done", world_id="core")
        gw.resume("done")
        history = gw.risk_history(limit=2)
        assert [c.state for c in history.changes] == ["ACTIVE", "ACTIVE"]
        assert history.next_before is not None
        rest = gw.risk_history(before=history.next_before)
        assert [c.state for c in rest.changes] == ["REDUCING", "HALTED"]
        assert [c.reason for c in gw.risk_history(world_id="core").changes] == ["done", "drill"]
        assert gw.risk_limits().max_orders_per_execution == 3


def test_preview_submit_and_refusals(live_server: Callable[..., str]) -> None:
    url = live_server({"gateway": {"enforce_live_guard": False}})
    with GatewayClient(url) as gw:
        preview = gw.execute(request_body())
        assert isinstance(preview, ExecuteResponse) and preview.state == "previewed"
        assert gw.get_execution(preview.execution_id or "") == preview
        gw.halt("incident", world_id="a")
        with pytest.raises(PreconditionFailed) as changed:
            gw.submit_preview(preview)
        fresh = changed.value.preview
        assert fresh is not None and fresh["status"] == "rejected"
        with pytest.raises(RiskRejected) as rejected:
            gw.submit_preview(fresh)
        assert {d["code"] for d in rejected.value.denied} == {"WORLD_HALTED"}
        gw.resume("over", world_id="a")
        done = gw.submit_preview(preview)  # the original orders pass again
        assert done.state == "submitted" and done.execution_id == preview.execution_id
        assert gw.submit_preview(preview) == done  # replay
        with pytest.raises(ValueError):
            gw.submit_preview({"state": "submitted"})


def test_expired_preview(live_server: Callable[..., str]) -> None:
    url = live_server({"gateway": {"risk": {"preview_ttl_seconds": 0.01}}})
    with GatewayClient(url) as gw:
        preview = gw.execute(sample_request())
        time.sleep(0.05)
        with pytest.raises(PreviewExpired) as late:
            gw.submit_preview(preview, allow_live=True)
    assert late.value.code == "E_PREVIEW_EXPIRED" and late.value.status == 410


@pytest.mark.anyio
async def test_async_twins(live_server: Callable[..., str]) -> None:
    url = live_server()
    async with AsyncGatewayClient(url) as gw:
        halted = await gw.halt("async drill")
        assert halted.state == "HALTED" and halted.world_id is None
        with pytest.raises(RiskRejected):
            await gw.execute(request_body(), submit=True, allow_live=True)
        preview = await gw.execute(request_body())
        assert preview.status == "rejected"
        await gw.resume("async over")
        assert (await gw.risk_state()).global_.state == "ACTIVE"
        done = await gw.submit_preview(await gw.execute(request_body()), allow_live=True)
        assert done.state == "submitted"
        assert (await gw.get_execution(done.execution_id or "")).state == "submitted"
        assert (await gw.world_state("a")).state == "ACTIVE"
        assert len((await gw.risk_history()).changes) == 2
        assert (await gw.risk_limits()).preview_ttl_seconds == 300.0
        again = await gw.set_risk_state("REDUCING", "etag", etag="*")
        assert again.state == "REDUCING"
        # A submitted execution answers any later submit with itself (a replay).
        replay = await gw.submit_execution(done.execution_id or "", "any", allow_live=True)
        assert replay == done
