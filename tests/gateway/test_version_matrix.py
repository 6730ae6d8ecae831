"""Every (client, WorldService, Gateway) schema-version combination 1–3, over HTTP.

The answer's version is ``min(client or gateway, gateway, worldservice)``; each version
carries exactly its own fields; a policy is answered in v3 or refused with 422
``E_POLICY_REQUIRES_V3``, never ignored.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
from litestar.testing import TestClient

from tests.gateway.factories import request_body

FIELDS = {
    1: {"schema_version", "per_world", "global_deltas"},
    2: {"schema_version", "per_world", "global_deltas", "alpha_metrics", "rebalance_intent"},
    3: {"schema_version", "per_world", "global_deltas", "alpha_metrics", "rebalance_intent",
        "skipped", "projection"},
}
SWITCHES = {
    1: {},
    2: {"compat_rebalance_v2": True},
    3: {"compat_rebalance_v2": True, "compat_rebalance_v3": True},
}
CLIENTS = (None, 1, 2, 3)
POLICY = {"band": {"abs": 0.001}, "cash": {"available": 50_000.0}}


def _deployment(make_client: Callable[..., TestClient[Any]], ws: int, gw: int) -> TestClient[Any]:
    return make_client({
        "worldservice": {"server": SWITCHES[ws]},
        "gateway": {"rebalance_schema_version": gw, "alpha_metrics_capable": gw >= 2},
    })


@pytest.mark.parametrize(("ws", "gw"), list(itertools.product((1, 2, 3), (1, 2, 3))))
def test_every_client_version_gets_the_negotiated_answer(
    make_client: Callable[..., TestClient[Any]], ws: int, gw: int
) -> None:
    app = _deployment(make_client, ws, gw)
    for client in CLIENTS:
        answer = app.post("/rebalancing/plan", json=request_body(schema_version=client))
        assert answer.status_code == 200, answer.text
        body = answer.json()
        want = min(client or gw, gw, ws)
        assert body["schema_version"] == want, (client, ws, gw)
        assert set(body) == FIELDS[want], (client, ws, gw)
        direct = app.post("/worldservice/rebalancing/plan",
                          json=request_body(schema_version=client))
        assert direct.json()["schema_version"] == min(client or 1, ws)


@pytest.mark.parametrize(("ws", "gw"), list(itertools.product((1, 2, 3), (1, 2, 3))))
def test_a_policy_is_answered_in_v3_or_refused(
    make_client: Callable[..., TestClient[Any]], ws: int, gw: int
) -> None:
    app = _deployment(make_client, ws, gw)
    for client in CLIENTS:
        body = request_body(schema_version=client, policy=POLICY)
        for url in ("/rebalancing/plan", "/worldservice/rebalancing/plan"):
            answer = app.post(url, json=body)
            through_gateway = url == "/rebalancing/plan"
            version = min(client or gw, gw, ws) if through_gateway else min(client or 1, ws)
            if version == 3:
                assert answer.status_code == 200, answer.text
                got = answer.json()
                assert set(got) == FIELDS[3] | {"funding"}
                assert got["funding"]["available"] == 50_000.0
            else:
                assert answer.status_code == 422, (url, client, ws, gw)
                error = answer.json()
                assert error["code"] == "E_POLICY_REQUIRES_V3"
                assert error["negotiated_schema_version"] == version
                assert error["errors"] == [{"path": "$.policy",
                                            "message": "needs schema_version >= 3"}]
