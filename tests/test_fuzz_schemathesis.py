"""Fuzz every HTTP operation of the app's own OpenAPI schema with schemathesis, in-process.

For each operation, valid-looking (positive) and schema-breaking (negative) requests are
generated and sent through the ASGI app: no answer may be a 5xx, and every 4xx must carry
the SPEC §10 body. The operations are read from the app itself, so new routes are fuzzed as
soon as they exist.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient
from schemathesis import GenerationMode

from app.contracts.keys import SCOPES
from app.main import create_app
from app.settings import load_settings

# Bounded so the whole module stays well under two minutes on a 2-core machine.
EXAMPLES_PER_MODE = 20
_BASE = "http://testserver.local"


@cache
def _schema() -> Any:
    """The OpenAPI schema of an app with both roles (built, never started)."""
    unused_store = Path(tempfile.gettempdir()) / "worldgate-fuzz-never-opened.sqlite3"
    app = create_app(
        load_settings(environ={}, overrides={"store": {"sqlite_path": str(unused_store)}})
    )
    return schemathesis.openapi.from_dict(app.openapi_schema.to_schema())


def _operation_ids() -> list[str]:
    ids = []
    for result in _schema().get_all_operations():
        operation = result.ok()
        ids.append(f"{operation.method.upper()} {operation.path}")
    return sorted(ids)


# The default deployment, and one with schema v2 on end to end (alpha metrics paths).
_DEPLOYMENTS: dict[str, dict[str, Any]] = {
    "v1": {},
    "v2": {
        "worldservice": {"server": {"compat_rebalance_v2": True}},
        "gateway": {"rebalance_schema_version": 2, "alpha_metrics_capable": True},
    },
}


# Every request carries a key holding every scope, so the fuzz reaches each handler (the
# refusals of keys and scopes are tested in tests/web). With no key at all, the first
# `POST /keys` the fuzz sends would lock every later request out.
_FUZZ_SECRET = "fuzz-root-secret"
_FUZZ_KEY = {
    "id": "fuzz", "name": "fuzz", "scopes": list(SCOPES),
    "secret_sha256": hashlib.sha256(_FUZZ_SECRET.encode()).hexdigest(),
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "operation_id" in metafunc.fixturenames:
        metafunc.parametrize("operation_id", _operation_ids())
        metafunc.parametrize("deployment", sorted(_DEPLOYMENTS))


def _httpx_kwargs(transport: dict[str, Any]) -> dict[str, Any]:
    """Turn schemathesis' ``requests`` keyword arguments into httpx ones."""
    split = urlsplit(transport["url"])
    headers = dict(transport.get("headers") or {})
    cookies = transport.get("cookies") or {}
    if cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    out: dict[str, Any] = {
        "method": transport["method"],
        "url": split.path + (f"?{split.query}" if split.query else ""),
        "headers": headers,
        "params": transport.get("params") or None,
    }
    if "json" in transport:
        out["json"] = transport["json"]
    elif transport.get("data") is not None:
        data = transport["data"]
        if isinstance(data, dict):
            out["data"] = data
        else:
            out["content"] = data
    return out


def _check_spec_error(label: str, response: Any) -> None:
    status = response.status_code
    # 503/504 are honest answers about a dependency (SPEC §6, §8); any other 5xx is a bug.
    assert status < 500 or status in (503, 504), f"{label} answered {status}: {response.text}"
    if status < 400:
        return
    body = response.json()
    assert isinstance(body, dict), f"{label} {status}: error body is not an object"
    assert body.get("status") == status, f"{label} {status}: bad status field {body}"
    code = body.get("code")
    assert isinstance(code, str) and code.startswith("E_"), f"{label} {status}: bad code {body}"
    assert isinstance(body.get("detail"), str), f"{label} {status}: detail not a string {body}"
    errors = body.get("errors")
    if errors is not None:
        assert isinstance(errors, list), f"{label} {status}: errors not a list {body}"
        for item in errors:
            assert isinstance(item, dict), f"{label}: error item {item!r}"
            assert isinstance(item.get("path"), str), f"{label}: error item {item!r}"
            assert isinstance(item.get("message"), str), f"{label}: error item {item!r}"


def test_operation_never_fails_and_errors_follow_spec(
    operation_id: str, deployment: str, make_client: Callable[..., TestClient[Any]]
) -> None:
    method, path = operation_id.split(" ", 1)
    schema = _schema()
    operation = schema[path][method.lower()]
    client = make_client({**_DEPLOYMENTS[deployment], "security": {"keys": [_FUZZ_KEY]}})
    strategy = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )
    sent: list[int] = []

    @settings(
        max_examples=2 * EXAMPLES_PER_MODE,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def fuzz(case: Any) -> None:
        kwargs = _httpx_kwargs(case.as_transport_kwargs(base_url=_BASE))
        kwargs["headers"].setdefault("Authorization", f"Bearer {_FUZZ_SECRET}")
        response = client.request(**kwargs)
        sent.append(response.status_code)
        _check_spec_error(f"{case.as_curl_command()}\n->", response)

    fuzz()
    assert sent, f"no request was generated for {operation_id}"
