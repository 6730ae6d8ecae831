"""Order submission is idempotent by ``Idempotency-Key`` / ``run_id``, on both stores.

Fifty identical concurrent submits record one execution and one set of order events; the
same key with another body is 409 and records nothing. Allocations with ``execute: true``
retried concurrently never see a spurious 409.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest
import uvicorn

from app.container import Container
from app.contracts.events import REBALANCING_ORDERS
from app.gateway.execution import allocation_execution_id
from app.testing import ThreadedServer
from tests.backends import BACKENDS, backend_app
from tests.gateway.factories import request_body

EXECUTE = "/rebalancing/execute?submit=true"
LIVE = {"X-Allow-Live": "true"}


class Served:
    """A real server on one backend, and its container (to read the event log)."""

    def __init__(self, server: ThreadedServer, container: Container) -> None:
        self.server = server
        self.container = container
        self.url = server.url

    def orders_events(self) -> list[Any]:
        store = self.container.store()
        return self.server.call(store.events_since, 0, [REBALANCING_ORDERS], 100_000)


@pytest.fixture(scope="module", params=BACKENDS)
def served(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    app, container = backend_app(request.param, tmp_path_factory.mktemp("idem"))
    config = uvicorn.Config(app, log_level="error", lifespan="on", ws="none")
    with ThreadedServer(uvicorn.Server(config)) as server:
        yield Served(server, container)


async def _burst(url: str, n: int, calls: list[tuple[str, dict[str, Any], dict[str, str]]]
                 ) -> list[httpx.Response]:
    out: list[httpx.Response | None] = [None] * n
    limits = httpx.Limits(max_connections=n)
    async with httpx.AsyncClient(base_url=url, timeout=30.0, limits=limits) as client:

        async def one(i: int) -> None:
            path, body, headers = calls[i % len(calls)]
            out[i] = await client.post(path, json=body, headers=headers)

        async with anyio.create_task_group() as tg:
            for i in range(n):
                tg.start_soon(one, i)
    return [r for r in out if r is not None]


def _burst_sync(url: str, n: int, *calls: tuple[str, dict[str, Any], dict[str, str]]
                ) -> list[httpx.Response]:
    return anyio.run(_burst, url, n, list(calls))


def _events_of(served: Served, execution_id: str) -> list[Any]:
    return [e for e in served.orders_events()
            if e.event.data["execution_id"] == execution_id]


@pytest.mark.parametrize("how", ["header", "run_id"])
def test_fifty_identical_concurrent_submits_record_one_execution(
    served: Served, how: str
) -> None:
    key = f"idem-50-{how}"
    body = request_body()
    headers = dict(LIVE)
    if how == "header":
        headers["Idempotency-Key"] = key
    else:
        body["run_id"] = key
    answers = _burst_sync(served.url, 50, (EXECUTE, body, headers))
    assert {r.status_code for r in answers} == {200}, {r.text for r in answers}
    contents = {r.content for r in answers}
    assert len(contents) == 1  # every caller got the very same stored answer
    first = answers[0].json()
    assert first["submitted"] is True
    execution_id = first["execution_id"]
    replays = [r.headers["x-idempotent-replay"] for r in answers]
    assert replays.count("false") == 1 and replays.count("true") == 49
    events = _events_of(served, execution_id)
    assert len(events) == len(first["batches"]) > 0
    # A later retry is a replay too, and records nothing.
    again = httpx.post(served.url + EXECUTE, json=body, headers=headers)
    assert again.content == answers[0].content
    assert len(_events_of(served, execution_id)) == len(events)


def test_the_same_key_with_another_body_is_409_and_records_nothing(served: Served) -> None:
    headers = {**LIVE, "Idempotency-Key": "idem-conflict"}
    first = httpx.post(served.url + EXECUTE, json=request_body(), headers=headers)
    assert first.status_code == 200, first.text
    before = len(served.orders_events())
    other = request_body(total_equity=123_456.0)
    changed = httpx.post(served.url + EXECUTE, json=other, headers=headers)
    assert changed.status_code == 409
    assert changed.json()["code"] == "E_EXECUTION_CONFLICT"
    flags = httpx.post(served.url + EXECUTE + "&per_strategy=true", json=request_body(),
                       headers=headers)
    assert flags.status_code == 409  # the options are part of the request
    assert len(served.orders_events()) == before


def test_racing_bodies_under_one_key_record_exactly_one(served: Served) -> None:
    headers = {**LIVE, "Idempotency-Key": "idem-race"}
    a, b = request_body(), request_body(total_equity=500_000.0)
    answers = _burst_sync(served.url, 40, (EXECUTE, a, headers), (EXECUTE, b, headers))
    ok = [r for r in answers if r.status_code == 200]
    assert {r.status_code for r in answers} <= {200, 409}
    assert len({r.content for r in ok}) == 1
    execution_id = ok[0].json()["execution_id"]
    assert len(_events_of(served, execution_id)) == len(ok[0].json()["batches"])


def test_key_equivalent_bodies_replay(served: Served) -> None:
    """Key order, whitespace and the mode's case do not make another request."""
    headers = {**LIVE, "Idempotency-Key": "idem-equivalent"}
    body = request_body(mode="scaling")
    first = httpx.post(served.url + EXECUTE, json=body, headers=headers)
    reordered = dict(reversed(list({**body, "mode": "SCALING"}.items())))
    second = httpx.post(served.url + EXECUTE, content=httpx.Request(
        "POST", "/", json=reordered).content.replace(b",", b", "),
        headers={**headers, "content-type": "application/json"})
    assert second.status_code == 200, second.text
    assert second.content == first.content


def test_a_header_and_a_run_id_that_disagree_are_422(served: Served) -> None:
    body = {**request_body(), "run_id": "one"}
    response = httpx.post(served.url + EXECUTE, json=body,
                          headers={**LIVE, "Idempotency-Key": "two"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["path"] == "$.run_id"
    bad = httpx.post(served.url + EXECUTE, json=request_body(),
                     headers={**LIVE, "Idempotency-Key": "x" * 300})
    assert bad.status_code == 422


def test_concurrent_allocation_retries_with_execute_never_conflict(served: Served) -> None:
    """Issue 15 item 8: identical concurrent retries of an allocation run that executes."""
    positions = request_body()["positions"]
    worlds = sorted({p["world_id"] for p in positions})
    base = {"run_id": "alloc-exec-0", "total_equity": 1_000_000.0,
            "world_allocations": dict.fromkeys(worlds, 0.5), "positions": positions}
    assert httpx.post(served.url + "/worldservice/allocations", json=base).status_code == 200
    body = {**base, "run_id": "alloc-exec-1", "execute": True,
            "world_allocations": dict.fromkeys(worlds, 0.25)}
    answers = _burst_sync(served.url, 20, ("/worldservice/allocations", body, {}))
    assert {r.status_code for r in answers} == {200}, {r.text for r in answers}
    assert len({r.content for r in answers}) == 1
    execution_id = allocation_execution_id("alloc-exec-1")
    stored = httpx.get(f"{served.url}/rebalancing/executions/{execution_id}")
    assert stored.status_code == 200, stored.text
    batches = stored.json()["batches"]
    assert len(_events_of(served, execution_id)) == len(batches) == len(worlds)
