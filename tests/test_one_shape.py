"""One edge, one shape: the Gateway refuses a bad body exactly as WorldService does."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from app.main import create_app
from app.settings import load_settings
from tests.gateway.factories import request_body

_VALID = msgspec.json.encode(request_body())
BODIES: dict[str, tuple[bytes, str | None]] = {
    "empty": (b"", "application/json"),
    "whitespace": (b" \n", "application/json"),
    "not json": (b"{'a': 1}", "application/json"),
    "huge number": (_VALID.replace(b"100000.0", b"1e999"), "application/json"),
    "string number": (_VALID.replace(b'"qty":2.0', b'"qty":"2"'), "application/json"),
    "missing field": (b'{"total_equity": 1.0}', "application/json"),
    "array": (b"[]", "application/json"),
    "invalid utf-8": (_VALID.replace(b'"BTC"', b'"B\xffC"', 1), "application/json"),
    "deep": (b'{"x":' + b"[" * 990 + b"]" * 990 + b"}", "application/json"),
    "text/plain": (_VALID, "text/plain"),
    "no content type": (_VALID, None),
    "bad mark": (_VALID.replace(b'"mark":1000.0', b'"mark":-1'), "application/json"),
}
# Gateway door -> the WorldService door that answers the same body the same way.
DOORS = {
    "/rebalancing/plan": "/worldservice/rebalancing/plan",
    "/rebalancing/apply": "/worldservice/rebalancing/apply",
    "/rebalancing/execute": "/worldservice/rebalancing/plan",
}


@pytest.fixture(scope="module")
def app_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient[Any]]:
    settings = load_settings(environ={}, overrides={
        "store": {"sqlite_path": str(tmp_path_factory.mktemp("shape") / "db.sqlite3")},
    })
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def _answer(client: TestClient[Any], path: str, body: bytes, media: str | None) -> Any:
    headers = {"content-type": media} if media else {}
    response = client.post(path, content=body, headers=headers)
    assert 400 <= response.status_code < 500, (path, response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    answer = response.json()
    assert answer["status"] == response.status_code
    assert answer["code"].startswith("E_") and isinstance(answer["detail"], str)
    return response.status_code, answer


@pytest.mark.parametrize("name", sorted(BODIES))
@pytest.mark.parametrize("gateway_path", sorted(DOORS))
def test_the_gateway_answers_bad_bodies_as_worldservice_does(
    app_client: TestClient[Any], name: str, gateway_path: str
) -> None:
    body, media = BODIES[name]
    via_gateway = _answer(app_client, gateway_path, body, media)
    direct = _answer(app_client, DOORS[gateway_path], body, media)
    assert via_gateway == direct
