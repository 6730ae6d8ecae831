"""The OpenAPI document and its browsable pages, served offline from vendored assets.

Litestar's Swagger UI, ReDoc and Elements pages load their scripts from CDNs by default, so
they are blank on a machine without internet. Here each page points at files shipped in
``app/web/openapi_ui/`` (copied from the npm packages, see ``vendor.json`` there) and served
under ``/schema/assets/``. The document itself gets a bearer security scheme (naming the
scope) on the routes that need an API key, and the error answers each route can give, all
with the one error body; this is done once per app over its registered handlers
(:func:`document_operations`), so route decorators stay as they are.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import msgspec
from litestar import Litestar, Router, get
from litestar.datastructures import CacheControlHeader
from litestar.openapi import OpenAPIConfig
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.plugins import (
    JsonRenderPlugin,
    RedocRenderPlugin,
    StoplightRenderPlugin,
    SwaggerRenderPlugin,
    YamlRenderPlugin,
)
from litestar.openapi.spec import Components, Example, SecurityScheme
from litestar.params import HeaderParameter, ParameterKwarg
from litestar.routes import HTTPRoute
from litestar.static_files import create_static_files_router

from app.contracts.keys import SCOPES
from app.errors import Code
from app.web.auth import PUBLIC_OPT, required_scope

__all__ = [
    "ASSETS_DIR",
    "BEARER_SCHEME",
    "OPENAPI_PATH",
    "ErrorBody",
    "document_operations",
    "openapi_assets_router",
    "openapi_config",
]

OPENAPI_PATH = "/schema"
ASSETS_DIR = Path(__file__).with_name("openapi_ui")
_ASSETS_URL = f"{OPENAPI_PATH}/assets"
BEARER_SCHEME = "bearer"
_REDOC_URL = f"{OPENAPI_PATH}/redoc.standalone.js"
# ReDoc's sidebar shows a logo from its CDN; the served bundle points it at a local file.
_REDOC_LOGO = (b"https://cdn.redoc.ly/redoc/logo-mini.svg", f"{_ASSETS_URL}/favicon.svg".encode())
# Litestar's default favicon is an image on a CDN; this one ships with the assets.
_FAVICON = f'<link rel="icon" type="image/svg+xml" href="{_ASSETS_URL}/favicon.svg">'


class ErrorItem(msgspec.Struct, frozen=True, kw_only=True):
    """One bad field: where it is (``$.positions[3].mark``) and what is wrong with it."""

    path: str
    message: str


class ErrorBody(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Every 4xx/5xx answer: HTTP status, a stable ``E_...`` code, a human sentence, and for
    validation errors the bad fields. Some codes add figures of their own (e.g. ``limit``)."""

    status: int
    code: str
    detail: str
    errors: list[ErrorItem] | None = None


# status: (what it means, an example code, an example detail)
_ERRORS: dict[int, tuple[str, Code, str]] = {
    400: ("The body is not valid JSON.", Code.MALFORMED_JSON,
          "The request body is not valid JSON."),
    401: ("An API key is required (the deployment has keys) and was missing, unknown, "
          "revoked or expired.", Code.UNAUTHORIZED,
          "A valid API key is required (Authorization: Bearer <secret>)."),
    403: ("Not allowed: a key without the route's scope (`E_FORBIDDEN_SCOPE`, naming it in "
          "`missing_scope`), the live guard (`X-Allow-Live`) or a disabled policy.",
          Code.FORBIDDEN_SCOPE,
          "This call needs the scope `submit`; key key_3f9a1c2b7d4e (notebook) has: read."),
    404: ("Nothing with that id or world.", Code.NOT_FOUND, "No execution with that id."),
    409: ("The `run_id` (or `Idempotency-Key`) was used with another body, or the `etag` is "
          "stale.",
          Code.RUN_ID_CONFLICT, "run_id r-1 was already applied with another body."),
    410: ("The preview expired (`gateway.risk.preview_ttl_seconds`).", Code.PREVIEW_EXPIRED,
          "The preview expired; execute again for a fresh one."),
    412: ("`If-Match` names a stale etag; the answer carries the current state.",
          Code.PRECONDITION_FAILED, "The state changed since the etag you sent."),
    413: ("The body exceeds `server.max_body_bytes`.", Code.PAYLOAD_TOO_LARGE,
          "The request body exceeds the limit of 67108864 bytes (server.max_body_bytes)."),
    415: ("The body is not declared as JSON (`Content-Type: application/json`).",
          Code.UNSUPPORTED_MEDIA_TYPE,
          "The request body must be JSON: send `Content-Type: application/json` "
          "(got `text/plain`)."),
    422: ("A field, parameter or rule is invalid; `errors` lists each bad field.",
          Code.VALIDATION, "Input should be greater than 0 (at $.positions[0].mark)"),
    428: ("`If-Match` is required.", Code.PRECONDITION_REQUIRED,
          "Send If-Match with the preview's etag."),
    429: ("The key is over its requests per minute; `Retry-After` says when to retry.",
          Code.RATE_LIMITED, "Key key_3f9a1c2b7d4e is over its 60 requests per minute; "
          "retry in 2 s."),
    502: ("WorldService answered something that is not a plan.",
          Code.WORLDSERVICE_BAD_RESPONSE, "WorldService answered a body that is not a plan."),
    503: ("A component (store, bus, WorldService) is unavailable or the server is not ready; "
          "retry later.", Code.STORE_UNAVAILABLE, "The store is unavailable."),
    504: ("WorldService did not answer in time.", Code.WORLDSERVICE_UNAVAILABLE,
          "WorldService did not answer within 10 s."),
}

# Answers that only some routes give, keyed by (method, path).
_PROXIED = {502, 504}
_EXTRA: dict[tuple[str, str], set[int]] = {
    ("POST", "/worldservice/rebalancing/apply"): {409},
    ("POST", "/worldservice/allocations"): {409},
    ("GET", "/worldservice/allocations"): {404},
    ("POST", "/rebalancing/plan"): _PROXIED,
    ("POST", "/rebalancing/apply"): {409} | _PROXIED,
    ("POST", "/rebalancing/execute"): {409} | _PROXIED,
    ("GET", "/allocations"): {404} | _PROXIED,
    ("GET", "/rebalancing/executions/{execution_id}"): {410},
    ("POST", "/rebalancing/executions/{execution_id}/submit"): {410, 428},
}
# Routes that answer 200 whatever the state of the components.
_ALWAYS_UP = frozenset({"/health", "/metrics"})
_NOT_PARAMETERS = frozenset({"request", "data", "state", "headers", "cookies", "query", "scope",
                             "socket", "body"})


def openapi_config(version: str) -> OpenAPIConfig:
    """The OpenAPI configuration: ReDoc at ``/schema`` and ``/schema/redoc``, Swagger UI at
    ``/schema/swagger``, Elements at ``/schema/elements``, the document at
    ``/schema/openapi.json`` (and ``.yaml``), every page's assets served locally."""
    assets = _ASSETS_URL
    return OpenAPIConfig(
        title="Worldgate",
        version=version,
        # The document and its pages need no key (the scope table in docs/security.md).
        openapi_router=Router(path=OPENAPI_PATH, route_handlers=[], opt={PUBLIC_OPT: True},
                              include_in_schema=False),
        components=Components(security_schemes={BEARER_SCHEME: SecurityScheme(
            type="http", scheme="bearer",
            description="The secret of an API key: `Authorization: Bearer <secret>`. Once the "
                        "deployment has keys, every route marked with a lock needs one holding "
                        f"the scope it names ({', '.join(SCOPES)}).",
        )}),
        render_plugins=[
            RedocRenderPlugin(path="/redoc", js_url=_REDOC_URL,
                              google_fonts=False, favicon=_FAVICON),
            SwaggerRenderPlugin(
                path="/swagger", js_url=f"{assets}/swagger-ui/swagger-ui-bundle.js",
                css_url=f"{assets}/swagger-ui/swagger-ui.css",
                standalone_preset_js_url=f"{assets}/swagger-ui/swagger-ui-standalone-preset.js",
                favicon=_FAVICON,
            ),
            StoplightRenderPlugin(path="/elements",
                                  js_url=f"{assets}/elements/web-components.min.js",
                                  css_url=f"{assets}/elements/styles.min.css", favicon=_FAVICON),
            JsonRenderPlugin(),
            YamlRenderPlugin(path=["/openapi.yaml", "/openapi.yml"]),
        ],
    )


def openapi_assets_router() -> Router:
    """Serve ``app/web/openapi_ui/`` at ``/schema/assets/`` and the ReDoc bundle with its one
    CDN reference (the sidebar logo) pointed at a local file."""
    cache = CacheControlHeader(max_age=3600)
    files = create_static_files_router(
        path=_ASSETS_URL, directories=[ASSETS_DIR], include_in_schema=False,
        name="openapi_assets", cache_control=cache,
    )

    @get(_REDOC_URL, include_in_schema=False, sync_to_thread=False, cache_control=cache,
         media_type="text/javascript; charset=utf-8")
    def redoc_bundle() -> bytes:
        return _redoc_bundle()

    return Router(path="/", route_handlers=[files, redoc_bundle], include_in_schema=False,
                  opt={PUBLIC_OPT: True})


@cache
def _redoc_bundle() -> bytes:
    old, new = _REDOC_LOGO
    return (ASSETS_DIR / "redoc" / "redoc.standalone.js").read_bytes().replace(old, new)


def _error_spec(status: int) -> ResponseSpec:
    meaning, code, detail = _ERRORS[status]
    example = {"status": status, "code": str(code), "detail": detail}
    if status == 422:
        example["errors"] = [{"path": "$.positions[0].mark",
                              "message": "Input should be greater than 0"}]
    return ResponseSpec(data_container=ErrorBody, generate_examples=False, description=meaning,
                        examples=[Example(summary=str(code), value=example)])


def _parameters(handler: Any) -> tuple[bool, bool]:
    """Whether the handler takes path/query/header parameters, and an ``If-Match`` header."""
    dependencies = set(handler.resolve_dependencies())
    takes_parameters = if_match = False
    for name, field in handler.parsed_fn_signature.parameters.items():
        if name in _NOT_PARAMETERS or name in dependencies:
            continue
        takes_parameters = True
        kwarg = field.kwarg_definition
        header = kwarg.name if isinstance(kwarg, HeaderParameter) else (
            kwarg.header if isinstance(kwarg, ParameterKwarg) else None)
        if (header or "").lower() == "if-match":
            if_match = True
    return takes_parameters, if_match


def _statuses(method: str, path: str, handler: Any) -> set[int]:
    """The error answers one operation can give."""
    statuses = set() if path in _ALWAYS_UP else {503}
    if required_scope(handler, method) is not None:
        statuses |= {401, 403, 429}
    takes_parameters, if_match = _parameters(handler)
    if takes_parameters:  # a parameter that does not convert is 422 (Litestar lists a 400)
        statuses |= {400, 422}
    if "{" in path:
        statuses |= {404, 422}
    if method in ("POST", "PUT", "PATCH"):
        statuses |= {413, 422}
        if handler.resolve_dependencies() or handler.parsed_fn_signature.parameters.get("data"):
            statuses.add(400)
        if any(name.endswith("_body") for name in handler.resolve_dependencies()):
            statuses.add(415)  # a body must be declared JSON (``json_body``)
    if if_match:
        statuses.add(412)
    return statuses | _EXTRA.get((method, path), set())


def document_operations(app: Litestar) -> None:
    """Document, on this app's own route handlers, the error answers of each operation (with
    the error body and an example) and the bearer scheme on routes that need a token.

    Route handlers are copied into each app when it is built, so this changes nothing
    outside ``app``. Call it before the OpenAPI document is first read.
    """
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if not handler.include_in_schema:
                continue
            method = sorted(handler.http_methods)[0]
            statuses = _statuses(method, route.path_format, handler)
            documented = {status: _error_spec(status) for status in sorted(statuses)}
            # The handler's own entries win; Litestar's generic 400 is replaced by ours.
            handler.responses = {**documented, **(handler.responses or {})}
            scope = required_scope(handler, method)
            if scope is not None:  # OpenAPI 3.1: the role a bearer scheme requires
                handler.security = [{BEARER_SCHEME: [scope]}]
