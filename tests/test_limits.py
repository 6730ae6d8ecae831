"""Request limits: body size (413 from Litestar's limit) and positions per request."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

PLAN = "/worldservice/rebalancing/plan"


def _request(n_positions: int) -> dict[str, Any]:
    return {
        "total_equity": 1_000_000.0,
        "world_alloc_before": {"w1": 0.5},
        "world_alloc_after": {"w1": 0.4},
        "positions": [
            {"world_id": "w1", "strategy_id": "s1", "symbol": f"SYM{i}", "qty": 1.0, "mark": 10.0}
            for i in range(n_positions)
        ],
    }


def _assert_too_large(response: Any) -> dict[str, Any]:
    assert response.status_code == 413, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == 413
    assert body["code"] == "E_PAYLOAD_TOO_LARGE"
    assert isinstance(body["detail"], str) and body["detail"]
    return body


@pytest.fixture
def small_body_client(make_client: Callable[..., TestClient[Any]]) -> TestClient[Any]:
    return make_client({"server": {"max_body_bytes": 2048}})


def test_body_over_the_limit_is_413(small_body_client: TestClient[Any]) -> None:
    payload = msgspec.json.encode(_request(100))
    assert len(payload) > 2048
    response = small_body_client.post(
        PLAN, content=payload, headers={"Content-Type": "application/json"}
    )
    body = _assert_too_large(response)
    assert "2048" in body["detail"]
    assert body["limit"] == 2048


def test_streamed_body_over_the_limit_is_413(small_body_client: TestClient[Any]) -> None:
    """Without Content-Length the limit is enforced on the bytes actually read."""

    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b" " * 1024

    response = small_body_client.post(
        PLAN, content=chunks(), headers={"Content-Type": "application/json"}
    )
    _assert_too_large(response)


def test_body_under_the_limit_is_served(small_body_client: TestClient[Any]) -> None:
    payload = msgspec.json.encode(_request(1))
    assert len(payload) < 2048
    response = small_body_client.post(
        PLAN, content=payload, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text


def test_too_many_positions_is_413(make_client: Callable[..., TestClient[Any]]) -> None:
    client = make_client({"server": {"max_positions": 3}})
    assert client.post(PLAN, json=_request(3)).status_code == 200
    body = _assert_too_large(client.post(PLAN, json=_request(4)))
    assert "4" in body["detail"] and "3" in body["detail"]
