"""The two WorldService faces refuse exactly alike: in-process and over HTTP.

The same hostile body goes to the Gateway of a combined app (its WorldService in-process)
and to a gateway-only app whose WorldService is a real server on a loopback port; both
answers must agree on status, code and error paths (and match WorldService's own route).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient

from app.main import create_app
from app.settings import load_settings
from app.testing import serve_in_thread
from tests.gateway.factories import request_body

PLAN = "/rebalancing/plan"
Outcome = tuple[int, str | None, tuple[str, ...]]


class Faces(msgspec.Struct):
    """The three doors a body can go through."""

    in_process: TestClient[Any]
    over_http: TestClient[Any]
    worldservice: TestClient[Any]


def _settings(path: Path, **overrides: Any) -> Any:
    base: dict[str, Any] = {"store": {"sqlite_path": str(path)}}
    return load_settings(environ={}, overrides={**base, **overrides})


@pytest.fixture(scope="module")
def faces(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Faces]:
    root = tmp_path_factory.mktemp("parity")
    ws_only = {"roles": ["worldservice"]}
    ws_app = create_app(_settings(root / "ws.sqlite3", server=ws_only))
    with serve_in_thread(ws_app) as base:
        gateway_only = _settings(
            root / "gw.sqlite3",
            server={"roles": ["gateway"]},
            gateway={"worldservice_url": f"{base}/worldservice", "worldservice_retries": 0},
        )
        with (
            TestClient(create_app(_settings(root / "both.sqlite3"))) as in_process,
            TestClient(create_app(gateway_only)) as over_http,
            TestClient(create_app(_settings(root / "ws2.sqlite3", server=ws_only))) as worldservice,
        ):
            yield Faces(in_process=in_process, over_http=over_http, worldservice=worldservice)


def _outcome(client: TestClient[Any], path: str, raw: bytes) -> Outcome:
    response = client.post(path, content=raw, headers={"content-type": "application/json"})
    if response.status_code == 200:
        return (200, None, ())
    body = response.json()
    paths = tuple(sorted(item["path"] for item in body.get("errors") or []))
    return (response.status_code, body["code"], paths)


def _all_agree(faces: Faces, raw: bytes) -> Outcome:
    in_process = _outcome(faces.in_process, PLAN, raw)
    assert _outcome(faces.over_http, PLAN, raw) == in_process, raw[:300]
    assert _outcome(faces.worldservice, f"/worldservice{PLAN}", raw) == in_process, raw[:300]
    return in_process


def _encode(body: Any) -> bytes:
    return msgspec.json.encode(body)


HOSTILE: list[tuple[str, bytes]] = [
    ("empty", b""),
    ("whitespace", b"  \n "),
    ("not json", b"{'total_equity': 1}"),
    ("truncated", b'{"total_equity": '),
    ("nan literal", b'{"total_equity": NaN}'),
    ("array", b"[]"),
    ("string", b'"plan"'),
    ("null", b"null"),
    ("huge number", _encode(request_body()).replace(b"100000.0", b"1e999")),
    ("string equity", _encode(request_body(total_equity="1000"))),
    ("string qty", _encode(request_body()).replace(b'"qty":2.0', b'"qty":"1.5"')),
    ("bool qty", _encode(request_body()).replace(b'"qty":2.0', b'"qty":true')),
    ("missing equity", _encode({k: v for k, v in request_body().items() if k != "total_equity"})),
    ("missing positions", _encode({k: v for k, v in request_body().items() if k != "positions"})),
    ("position not an object", _encode(request_body(positions=[1]))),
    ("missing mark", _encode(request_body(positions=[{"world_id": "a", "strategy_id": "s",
                                                      "symbol": "X", "qty": 1}]))),
    ("zero mark", _encode(request_body()).replace(b'"mark":1000.0', b'"mark":0')),
    ("negative equity", _encode(request_body(total_equity=-1))),
    ("allocation above one", _encode(request_body(world_alloc_after={"a": 1.5, "b": 0.5}))),
    ("world without allocation", _encode(request_body(world_alloc_after={"b": 0.5}))),
    ("unknown mode", _encode(request_body(mode="twist"))),
    ("overlay without config", _encode(request_body(mode="overlay"))),
    ("schema version 0", _encode(request_body(schema_version=0))),
    ("schema version string", _encode(request_body(schema_version="2"))),
    ("bad lot", _encode(request_body(lot_size_by_symbol={"BTC": 0}))),
    ("empty ids", _encode(request_body(positions=[{"world_id": "", "strategy_id": "",
                                                    "symbol": "", "qty": 1, "mark": 1}]))),
    ("returns not numbers", _encode(request_body(realized_returns_by_world={"a": ["x"]}))),
    ("valid", _encode(request_body())),
]


@pytest.mark.parametrize(("name", "raw"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_bodies_get_the_same_answer_from_every_face(
    faces: Faces, name: str, raw: bytes
) -> None:
    status, _, _ = _all_agree(faces, raw)
    assert status == 200 if name == "valid" else 400 <= status < 500


def test_the_in_process_face_is_as_strict_as_http(faces: Faces) -> None:
    # A string where a number belongs is refused with the field's path by every door.
    status, code, paths = _all_agree(faces, _encode(request_body(total_equity="1000")))
    assert (status, code, paths) == (422, "E_VALIDATION", ("$.total_equity",))
    missing = _encode({k: v for k, v in request_body().items() if k != "total_equity"})
    assert _all_agree(faces, missing)[2] == ("$.total_equity",)


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=3),
    max_leaves=8,
)
_fields = st.sampled_from(sorted(request_body()) + ["mode", "schema_version", "overlay",
                                                    "lot_size_by_symbol", "min_trade_notional"])


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=st.dictionaries(_fields, _json, max_size=3), drop=st.sets(_fields, max_size=2))
def test_generated_bodies_get_the_same_answer_from_every_face(
    faces: Faces, changes: dict[str, Any], drop: set[str]
) -> None:
    body = {k: v for k, v in request_body(**changes).items() if k not in drop}
    _all_agree(faces, _encode(body))
