"""The sans-I/O core of the Gateway clients: every call as data, every answer read once."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar
from urllib.parse import quote

import msgspec

from app.contracts.orders import ExecuteResponse
from app.contracts.rebalancing import RebalanceRequest
from app.sdk.errors import ProtocolError, WorldgateError, error_from_response
from app.sdk.wire import encode_request

__all__ = [
    "Answer",
    "Call",
    "RequestLike",
    "apply",
    "as_type",
    "audit",
    "auth_headers",
    "create_key",
    "error_answer",
    "execute",
    "execute_response",
    "execution",
    "get_key",
    "get_plan",
    "health",
    "list_executions",
    "list_keys",
    "list_plans",
    "plan",
    "read_answer",
    "revoke_key",
    "risk_history",
    "risk_limits",
    "risk_state",
    "set_risk_state",
    "submit_execution",
    "world_state",
    "worldservice_base",
    "worldservice_capabilities",
    "worldservice_plan",
]

T = TypeVar("T")
U = TypeVar("U")
RequestLike = RebalanceRequest | Mapping[str, Any]
_JSON = {"content-type": "application/json"}


class Answer(Protocol):
    """What the core reads of an HTTP answer (``httpx.Response`` fits)."""

    @property
    def status_code(self) -> int: ...

    @property
    def content(self) -> bytes: ...

    @property
    def text(self) -> str: ...

    @property
    def url(self) -> object: ...


def _json_or_none(content: bytes) -> Any:
    return msgspec.json.decode(content) if content else None


def error_answer(status: int, content: bytes, text: str) -> WorldgateError:
    """The typed error for an error answer whose body may or may not be a JSON error body."""
    try:
        body = _json_or_none(content)
    except msgspec.DecodeError:
        body = None
    return error_from_response(status, body, text)


def read_answer(answer: Answer) -> Any:
    """Return the decoded JSON of a 2xx answer or raise the typed error.

    Raises:
        ProtocolError: a 2xx answer that is not JSON.
        WorldgateError: any other answer (the most specific subclass).
    """
    ok = 200 <= answer.status_code < 300
    if not ok:
        raise error_answer(answer.status_code, answer.content, answer.text)
    try:
        return _json_or_none(answer.content)
    except msgspec.DecodeError:
        raise ProtocolError(f"{answer.url} answered {answer.status_code} with non-JSON") from None


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One HTTP call of a client and how its decoded answer becomes the result.

    Attributes:
        method: the HTTP method.
        url: a path below the Gateway root, or an absolute URL.
        parse: turns the decoded JSON body of a 2xx answer into the result.
        content: the request body, if any.
        headers: extra request headers, if any.
        params: query parameters, if any.
    """

    method: str
    url: str
    parse: Callable[[Any], T]
    content: bytes | None = None
    headers: Mapping[str, str] | None = None
    params: Mapping[str, str] | None = None

    def then(self, step: Callable[[T], U]) -> Call[U]:
        """The same call, its result passed through ``step``."""
        parse = self.parse
        return Call(self.method, self.url, lambda body: step(parse(body)), self.content,
                    self.headers, self.params)

    def finish(self, answer: Answer) -> T:
        """The result of this call from its answer (typed errors raised)."""
        return self.parse(read_answer(answer))


def auth_headers(token: str | None) -> dict[str, str]:
    """The bearer header for ``token`` (none without a token)."""
    return {"authorization": f"Bearer {token}"} if token else {}


def worldservice_base(base_url: str, worldservice_url: str | None) -> str:
    """The WorldService root: given, or ``<base_url>/worldservice`` (combined deployment)."""
    return (worldservice_url or f"{base_url}/worldservice").rstrip("/")


def _raw(body: Any) -> Any:
    return body


def _object(body: Any) -> dict[str, Any]:
    return body if isinstance(body, dict) else {}


def _execute_object(body: Any) -> dict[str, Any]:
    return body if isinstance(body, dict) else {"result": body}


def _post(url: str, request: RequestLike, **extra: Any) -> Call[Any]:
    return Call("POST", url, _raw, encode_request(request, **extra), _JSON)


def health() -> Call[dict[str, Any]]:
    """``GET /health``: the decoded body (``{}`` when it is not an object)."""
    return Call("GET", "/health", _object)


def worldservice_capabilities(worldservice_url: str) -> Call[dict[str, Any]]:
    """``GET <worldservice>/capabilities``: the decoded body."""
    return Call("GET", f"{worldservice_url}/capabilities", _object)


def plan(request: RequestLike) -> Call[Any]:
    """``POST /rebalancing/plan``: the decoded answer."""
    return _post("/rebalancing/plan", request)


def worldservice_plan(worldservice_url: str, request: RequestLike) -> Call[Any]:
    """``POST <worldservice>/rebalancing/plan`` (no Gateway negotiation): the decoded answer."""
    return _post(f"{worldservice_url}/rebalancing/plan", request)


def apply(request: RequestLike, run_id: str | None) -> Call[Any]:
    """``POST /rebalancing/apply`` with an optional ``run_id``: the decoded answer."""
    return _post("/rebalancing/apply", request, run_id=run_id)


def execute(
    request: RequestLike, *, submit: bool, shared_account: bool, per_strategy: bool,
    allow_live: bool, all_or_nothing: bool = False,
) -> Call[dict[str, Any]]:
    """``POST /rebalancing/execute``: the decoded answer (non-objects under ``result``)."""
    headers = dict(_JSON)
    if allow_live:
        headers["x-allow-live"] = "true"
    flags = {"submit": submit, "shared_account": shared_account, "per_strategy": per_strategy,
             "all_or_nothing": all_or_nothing}
    params = {k: "true" for k, v in flags.items() if v}
    return Call("POST", "/rebalancing/execute", _execute_object, encode_request(request),
                headers, params)


def as_type(kind: type[T]) -> Callable[[object], T]:
    """A parse step decoding an answer into ``kind`` (a contract Struct).

    The step raises ``ProtocolError`` when the answer does not match the contract.
    """

    def convert(body: object) -> T:
        try:
            return msgspec.convert(body, kind, strict=False)
        except msgspec.ValidationError as exc:
            name = kind.__name__
            raise ProtocolError(f"answer does not match the contract ({name}): {exc}") from exc

    return convert


def execute_response(body: object) -> ExecuteResponse:
    """Decode an execute answer into ``ExecuteResponse``.

    Raises:
        ProtocolError: the answer does not match the contract.
    """
    return as_type(ExecuteResponse)(body)


def _segment(value: str) -> str:
    """One path segment: every reserved character escaped (a ``/`` in an id stays in it)."""
    return quote(value, safe="")


def execution(execution_id: str) -> Call[dict[str, Any]]:
    """``GET /rebalancing/executions/{id}``: a submitted execution, else its live preview."""
    return Call("GET", f"/rebalancing/executions/{_segment(execution_id)}", _object)


def submit_execution(execution_id: str, etag: str, *, allow_live: bool) -> Call[dict[str, Any]]:
    """``POST /rebalancing/executions/{id}/submit`` with ``If-Match: "<etag>"``."""
    headers = {"if-match": f'"{etag}"'}
    if allow_live:
        headers["x-allow-live"] = "true"
    return Call("POST", f"/rebalancing/executions/{_segment(execution_id)}/submit", _object,
                headers=headers)


def risk_state() -> Call[dict[str, Any]]:
    """``GET /risk/state``: ``{global, worlds}``."""
    return Call("GET", "/risk/state", _object)


def world_state(world_id: str) -> Call[dict[str, Any]]:
    """``GET /risk/worlds/{world_id}``: one world's state (``ACTIVE`` when never set)."""
    return Call("GET", f"/risk/worlds/{_segment(world_id)}", _object)


def set_risk_state(
    state: str, reason: str, *, world_id: str | None = None, etag: str | None = None
) -> Call[dict[str, Any]]:
    """``PUT /risk/state`` (``world_id`` None) or ``PUT /risk/worlds/{world_id}``; with
    ``etag``, only if the state is still at it (``If-Match``)."""
    url = "/risk/state" if world_id is None else f"/risk/worlds/{_segment(world_id)}"
    headers = dict(_JSON)
    if etag is not None:
        headers["if-match"] = etag if etag == "*" else f'"{etag}"'
    body = msgspec.json.encode({"state": state, "reason": reason})
    return Call("PUT", url, _object, body, headers)


def risk_history(
    *, scope: str | None = None, world_id: str | None = None, limit: int = 100,
    before: int | None = None,
) -> Call[dict[str, Any]]:
    """``GET /risk/history``: ``{changes, next_before}``, newest first."""
    params = {"limit": str(limit)}
    for key, value in (("scope", scope), ("world_id", world_id), ("before", before)):
        if value is not None:
            params[key] = str(value)
    return Call("GET", "/risk/history", _object, params=params)


def risk_limits() -> Call[dict[str, Any]]:
    """``GET /risk/limits``: the pre-trade limits in force."""
    return Call("GET", "/risk/limits", _object)


def create_key(
    name: str, scopes: list[str], *, expires_at: str | None = None,
    rate_per_minute: int | None = None,
) -> Call[dict[str, Any]]:
    """``POST /keys`` (scope ``admin``): ``{key, secret}``; the secret is in this answer only."""
    body: dict[str, Any] = {"name": name, "scopes": scopes}
    if expires_at is not None:
        body["expires_at"] = expires_at
    if rate_per_minute is not None:
        body["rate_per_minute"] = rate_per_minute
    return Call("POST", "/keys", _object, msgspec.json.encode(body), _JSON)


def list_keys() -> Call[dict[str, Any]]:
    """``GET /keys`` (scope ``admin``): ``{keys}``, never a secret."""
    return Call("GET", "/keys", _object)


def get_key(key_id: str) -> Call[dict[str, Any]]:
    """``GET /keys/{id}`` (scope ``admin``)."""
    return Call("GET", f"/keys/{_segment(key_id)}", _object)


def revoke_key(key_id: str, reason: str | None = None) -> Call[dict[str, Any]]:
    """``POST /keys/{id}/revoke`` (scope ``admin``); ``reason`` goes to the audit log."""
    body = msgspec.json.encode({"reason": reason} if reason else {})
    return Call("POST", f"/keys/{_segment(key_id)}/revoke", _object, body, _JSON)


def audit(
    *, since: str | None = None, key: str | None = None, route: str | None = None,
    outcome: str | None = None, limit: int = 100, cursor: str | None = None,
) -> Call[dict[str, Any]]:
    """``GET /audit`` (scope ``admin``): ``{entries, next}``, oldest first."""
    params = {"limit": str(limit)}
    for name, value in (("since", since), ("key", key), ("route", route),
                        ("outcome", outcome), ("cursor", cursor)):
        if value is not None:
            params[name] = value
    return Call("GET", "/audit", _object, params=params)


def _page_params(world_id: str | None, limit: int, cursor: str | None) -> dict[str, str]:
    params = {"limit": str(limit)}
    if world_id is not None:
        params["world_id"] = world_id
    if cursor is not None:
        params["cursor"] = cursor
    return params


def list_plans(
    worldservice_url: str, world_id: str | None, limit: int, cursor: str | None
) -> Call[dict[str, Any]]:
    """``GET <worldservice>/rebalancing/plans``: ``{"plans": [...], "next": cursor|None}``."""
    return Call("GET", f"{worldservice_url}/rebalancing/plans", _object,
                params=_page_params(world_id, limit, cursor))


def get_plan(worldservice_url: str, run_id: str) -> Call[dict[str, Any]]:
    """``GET <worldservice>/rebalancing/plans/{run_id}``: one applied plan."""
    return Call("GET", f"{worldservice_url}/rebalancing/plans/{_segment(run_id)}", _object)


def list_executions(
    world_id: str | None, limit: int, cursor: str | None
) -> Call[dict[str, Any]]:
    """``GET /rebalancing/executions``: ``{"executions": [...], "next": cursor|None}``."""
    return Call("GET", "/rebalancing/executions", _object,
                params=_page_params(world_id, limit, cursor))
