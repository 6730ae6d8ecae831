"""The OpenAPI document and its pages: offline assets (pinned by sha256), bearer scheme,
request examples and documented error answers."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from app.main import create_app
from app.settings import load_settings

APP_DIR = Path(__file__).resolve().parents[1] / "app"
MANIFESTS = sorted(APP_DIR.rglob("vendor.json"))
ERROR_STATUSES = ("401", "403", "404", "409", "412", "413", "422", "503")


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient[Any]]:
    db = tmp_path_factory.mktemp("openapi") / "w.sqlite3"
    app = create_app(load_settings(environ={}, overrides={"store": {"sqlite_path": str(db)}}))
    with TestClient(app) as test_client:
        yield test_client


@cache
def _schema() -> dict[str, Any]:
    app = create_app(load_settings(environ={}, overrides={"store": {"sqlite_path": "unused"}}))
    return app.openapi_schema.to_schema()


def _operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in _schema()["paths"].items():
        for method, operation in item.items():
            yield method.upper(), path, operation


@pytest.mark.parametrize("manifest", MANIFESTS, ids=lambda p: p.parent.name)
def test_vendored_files_match_their_recorded_sha256(manifest: Path) -> None:
    recorded = json.loads(manifest.read_text())
    assert recorded["version"] and recorded["license"] and recorded["integrity"]
    shipped = {p.name for p in manifest.parent.iterdir() if p.name != "vendor.json"}
    assert shipped == set(recorded["files"]), "a file is missing or not recorded"
    for name, digest in recorded["files"].items():
        assert hashlib.sha256((manifest.parent / name).read_bytes()).hexdigest() == digest, name


def test_every_vendored_package_is_recorded() -> None:
    names = {json.loads(m.read_text())["package"] for m in MANIFESTS}
    assert names == {"htmx.org", "swagger-ui-dist", "redoc", "@stoplight/elements"}


@pytest.mark.parametrize("page", ["/schema", "/schema/swagger", "/schema/redoc",
                                  "/schema/elements"])
def test_api_pages_load_only_local_assets(client: TestClient[Any], page: str) -> None:
    html = client.get(page)
    assert html.status_code == 200
    head = html.text.split("<body", 1)[0]
    assets = re.findall(r'(?:src|href)=["\']([^"\']+)["\']', head)
    assert assets and all(a.startswith("/schema/") for a in assets), assets
    for asset in assets:
        answer = client.get(asset)
        assert answer.status_code == 200 and answer.content, asset
    assert "fonts.googleapis.com" not in html.text


def test_the_redoc_bundle_fetches_nothing_from_its_cdn(client: TestClient[Any]) -> None:
    bundle = client.get("/schema/redoc.standalone.js")
    assert bundle.status_code == 200 and b"cdn.redoc.ly/redoc/logo" not in bundle.content


def test_keyed_routes_carry_the_bearer_scheme_with_their_scope() -> None:
    schemes = _schema()["components"]["securitySchemes"]
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}
    secured = {(m, p): op["security"] for m, p, op in _operations() if op.get("security")}
    assert secured[("PUT", "/risk/worlds/{world_id}")] == [{"bearer": ["risk"]}]
    assert secured[("POST", "/rebalancing/execute")] == [{"bearer": ["execute"]}]
    assert secured[("POST", "/worldservice/rebalancing/apply")] == [{"bearer": ["apply"]}]
    assert secured[("GET", "/risk/state")] == [{"bearer": ["read"]}]
    assert secured[("POST", "/rebalancing/plan")] == [{"bearer": ["plan"]}]
    assert ("GET", "/health") not in secured and ("GET", "/ready") not in secured
    assert ("GET", "/worldservice/capabilities") not in secured
    for method, path, operation in _operations():
        if (method, path) in secured:
            assert {"401", "403", "429"} <= set(operation["responses"]), (method, path)


def test_every_request_body_has_an_example() -> None:
    bodies = [(m, p, op["requestBody"]) for m, p, op in _operations() if "requestBody" in op]
    assert len(bodies) >= 8
    for method, path, body in bodies:
        schema = body["content"]["application/json"]["schema"]
        assert schema.get("examples"), (method, path)


def test_error_answers_are_documented_with_the_error_body() -> None:
    seen: set[str] = set()
    for method, path, operation in _operations():
        for status, answer in operation["responses"].items():
            if status.startswith(("4", "5")):
                content = answer["content"]["application/json"]
                assert content["schema"] == {"$ref": "#/components/schemas/ErrorBody"}, (
                    method, path, status)
                example = next(iter(content["examples"].values()))["value"]
                assert example["status"] == int(status) and example["code"].startswith("E_")
                seen.add(status)
    assert set(ERROR_STATUSES) <= seen
    body = _schema()["components"]["schemas"]["ErrorBody"]
    assert {"status", "code", "detail"} <= set(body["required"])


def test_json_only_bodies_and_idempotent_submits_are_documented() -> None:
    with_body = {(m, p) for m, p, op in _operations() if "requestBody" in op}
    with_415 = {(m, p) for m, p, op in _operations() if "415" in op["responses"]}
    assert with_body and with_415 == with_body
    execute = _schema()["paths"]["/rebalancing/execute"]["post"]
    assert "409" in execute["responses"]
    schema = execute["requestBody"]["content"]["application/json"]["schema"]
    assert schema["allOf"] == [{"$ref": "#/components/schemas/ExecuteRequest"}]
    assert "run_id" in schema["examples"][0]
