"""A Gateway cut off from its WorldService: 503/504 within the timeout, nothing
half-recorded, and identical retries converge once the network heals."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from app.gateway.execution import keyed_execution_id
from app.testing import ServerProcess, settings_env
from tests.faults.proxy import FaultProxy
from tests.gateway.factories import request_body

pytestmark = pytest.mark.multiprocess

TIMEOUT = 1.0
RETRIES = 1
# The most a call may take: every attempt times out, plus the backoff between them.
BOUND = (RETRIES + 1) * TIMEOUT + 1.0
LIVE = {"X-Allow-Live": "true"}


@dataclass
class Rig:
    worldservice: ServerProcess
    gateway: ServerProcess
    proxy: FaultProxy


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    ws = ServerProcess(
        settings_env({
            "server": {"roles": ["worldservice"], "log_format": "json"},
            "store": {"sqlite_path": str(tmp_path / "ws.sqlite3")},
        }),
        log_path=tmp_path / "worldservice.log",
        ready_path="/worldservice/capabilities",
    )
    with ws, FaultProxy("127.0.0.1", ws.port) as proxy:
        ws.start()
        ws.wait_ready()
        gateway = ServerProcess(
            settings_env({
                "server": {"roles": ["gateway"], "log_format": "json"},
                "store": {"sqlite_path": str(tmp_path / "gw.sqlite3")},
                "gateway": {
                    "worldservice_url": f"http://{proxy.address}/worldservice",
                    "worldservice_timeout": TIMEOUT,
                    "worldservice_retries": RETRIES,
                    "probe_timeout": 0.3,
                    "health_cache_seconds": 0.2,
                },
            }),
            log_path=tmp_path / "gateway.log",
        )
        with gateway:
            gateway.start()
            gateway.wait_ready()
            yield Rig(ws, gateway, proxy)


def _timed(client: httpx.Client, path: str, body: dict[str, object],
           headers: dict[str, str] | None = None) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = client.post(path, json=body, headers=headers)
    return response, time.monotonic() - started


def _run_ids(rig: Rig) -> list[str]:
    plans = httpx.get(rig.worldservice.url + "/worldservice/rebalancing/plans", timeout=10.0)
    return [p["run_id"] for p in plans.json()["plans"]]


def test_a_partitioned_gateway_answers_503_or_504_in_time_and_records_nothing(
    rig: Rig,
) -> None:
    submit_key = {**LIVE, "Idempotency-Key": "partition-submit"}
    with httpx.Client(base_url=rig.gateway.url, timeout=30.0) as client:
        assert client.post("/rebalancing/plan", json=request_body()).status_code == 200

        # Stalled: packets held, nothing reset -> 504 after the timeout.
        rig.proxy.stall()
        for path, body, headers in (
            ("/rebalancing/plan", request_body(), None),
            ("/rebalancing/apply", request_body(run_id="partition-apply"), None),
            ("/rebalancing/execute?submit=true", request_body(), submit_key),
        ):
            response, took = _timed(client, path, body, headers)
            assert response.status_code == 504, (path, response.text)
            assert response.json()["code"] == "E_WORLDSERVICE_UNAVAILABLE"
            assert took < BOUND + 2.0, (path, took)
        health = client.get("/health").json()
        assert (health["status"], health["worldservice"]) == ("degraded", "down")

        # Cut: connections refused -> 503 at once.
        rig.proxy.cut()
        for path, body, headers in (
            ("/rebalancing/apply", request_body(run_id="partition-apply"), None),
            ("/rebalancing/execute?submit=true", request_body(), submit_key),
        ):
            response, took = _timed(client, path, body, headers)
            assert response.status_code == 503, (path, response.text)
            assert response.json()["code"] == "E_WORLDSERVICE_UNAVAILABLE"
            assert took < BOUND + 2.0, (path, took)

        # Nothing half-recorded: no execution at the Gateway, no plan at WorldService.
        execution = client.get(f"/rebalancing/executions/{keyed_execution_id('partition-submit')}")
        assert execution.status_code == 404
        rig.proxy.heal()
        assert "partition-apply" not in _run_ids(rig)

        # Healed: the same retries record each thing once.
        applied = client.post("/rebalancing/apply", json=request_body(run_id="partition-apply"))
        assert applied.status_code == 200 and applied.headers["x-idempotent-replay"] == "false"
        submitted = client.post("/rebalancing/execute?submit=true", json=request_body(),
                                headers=submit_key)
        assert submitted.status_code == 200, submitted.text
        again = client.post("/rebalancing/execute?submit=true", json=request_body(),
                            headers=submit_key)
        assert again.content == submitted.content
        assert again.headers["x-idempotent-replay"] == "true"
    assert _run_ids(rig).count("partition-apply") == 1


def test_an_apply_that_outlives_the_gateway_timeout_converges_on_retry(rig: Rig) -> None:
    """The request reached WorldService late (a slow link): the Gateway said 504, WorldService
    stored it anyway; the client's retry gets that stored answer, not a second plan."""
    with httpx.Client(base_url=rig.gateway.url, timeout=30.0) as client:
        rig.proxy.delay(TIMEOUT + 0.5)
        response, _ = _timed(client, "/rebalancing/apply", request_body(run_id="slow-apply"))
        assert response.status_code == 504
        rig.proxy.heal()
        deadline = time.monotonic() + 10.0
        while "slow-apply" not in _run_ids(rig) and time.monotonic() < deadline:
            time.sleep(0.1)
        retry = client.post("/rebalancing/apply", json=request_body(run_id="slow-apply"))
        assert retry.status_code == 200
        assert retry.headers["x-idempotent-replay"] == "true"
    assert _run_ids(rig).count("slow-apply") == 1
