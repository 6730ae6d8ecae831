"""Sync and async Gateway clients (httpx): health, capabilities, plan, apply, execute."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any

import httpx
import msgspec

from app.contracts.orders import ExecuteResponse
from app.contracts.rebalancing import PlanResponse, RebalanceRequest
from app.sdk.errors import ProtocolError, Unreachable, error_from_response
from app.sdk.wire import GatewayHealth, decode_plan, encode_request, parse_health

__all__ = ["AsyncGatewayClient", "GatewayClient", "RequestLike"]

RequestLike = RebalanceRequest | Mapping[str, Any]
_JSON = {"content-type": "application/json"}


def _headers(token: str | None) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"} if token else {}


def _decode(response: httpx.Response) -> Any:
    """Return the decoded JSON of a 2xx answer or raise the typed error."""
    try:
        body: Any = msgspec.json.decode(response.content) if response.content else None
    except msgspec.DecodeError:
        body = None
        if response.is_success:
            raise ProtocolError(
                f"{response.request.url} answered {response.status_code} with non-JSON"
            ) from None
    if not response.is_success:
        raise error_from_response(response.status_code, body, response.text)
    return body


def _execute_params(submit: bool, shared_account: bool, per_strategy: bool) -> dict[str, str]:
    flags = {"submit": submit, "shared_account": shared_account, "per_strategy": per_strategy}
    return {k: "true" for k, v in flags.items() if v}


def _execute_response(body: object) -> ExecuteResponse:
    try:
        return msgspec.convert(body, ExecuteResponse, strict=False)
    except msgspec.ValidationError as exc:
        raise ProtocolError(f"execute answer does not match the contract: {exc}") from exc


def _ws_base(base_url: str, worldservice_url: str | None) -> str:
    return (worldservice_url or f"{base_url}/worldservice").rstrip("/")


class GatewayClient:
    """Blocking client of one Gateway.

    Args:
        base_url: the Gateway root, e.g. ``http://127.0.0.1:8000``.
        token: bearer token for mutating routes, when the deployment requires one.
        timeout: seconds per HTTP call.
        worldservice_url: WorldService root for ``worldservice_capabilities`` (default
            ``<base_url>/worldservice``, the combined deployment).
        transport: an httpx transport (tests may pass one).
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = 10.0,
        worldservice_url: str | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.worldservice_url = _ws_base(self.base_url, worldservice_url)
        self._http = httpx.Client(
            base_url=self.base_url, timeout=timeout, headers=_headers(token), transport=transport
        )

    def __enter__(self) -> GatewayClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def _call(self, method: str, url: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            raise Unreachable(self.base_url, str(exc) or type(exc).__name__) from exc
        return _decode(response)

    def health_raw(self) -> dict[str, Any]:
        """``GET /health`` as decoded JSON."""
        body = self._call("GET", "/health")
        return body if isinstance(body, dict) else {}

    def health(self) -> GatewayHealth:
        """``GET /health``, parsed into the capability bits."""
        return parse_health(self.health_raw())

    def worldservice_capabilities(self) -> dict[str, Any]:
        """``GET <worldservice>/capabilities``: ``max_schema_version``, the v2 switches."""
        body = self._call("GET", f"{self.worldservice_url}/capabilities")
        return body if isinstance(body, dict) else {}

    def plan_raw(self, request: RequestLike) -> Any:
        """``POST /rebalancing/plan``; the decoded JSON answer."""
        return self._call("POST", "/rebalancing/plan", content=encode_request(request),
                          headers=_JSON)

    def plan(self, request: RequestLike) -> PlanResponse:
        """``POST /rebalancing/plan``; the answer as ``PlanV1`` or ``PlanV2``."""
        return decode_plan(self.plan_raw(request))

    def worldservice_plan_raw(self, request: RequestLike) -> Any:
        """``POST <worldservice>/rebalancing/plan`` directly (bypassing the Gateway's
        negotiation); the decoded JSON answer."""
        return self._call("POST", f"{self.worldservice_url}/rebalancing/plan",
                          content=encode_request(request), headers=_JSON)

    def apply_raw(self, request: RequestLike, *, run_id: str | None = None) -> Any:
        """``POST /rebalancing/apply`` (store the plan, announce it); decoded JSON."""
        body = encode_request(request, run_id=run_id)
        return self._call("POST", "/rebalancing/apply", content=body, headers=_JSON)

    def apply(self, request: RequestLike, *, run_id: str | None = None) -> PlanResponse:
        """``POST /rebalancing/apply``; the stored plan as ``PlanV1`` or ``PlanV2``."""
        return decode_plan(self.apply_raw(request, run_id=run_id))

    def execute(
        self,
        request: RequestLike,
        *,
        submit: bool = False,
        shared_account: bool = False,
        per_strategy: bool = False,
        allow_live: bool = False,
    ) -> ExecuteResponse:
        """``POST /rebalancing/execute``, decoded into ``ExecuteResponse``; see
        ``execute_raw`` for the arguments."""
        return _execute_response(self.execute_raw(
            request, submit=submit, shared_account=shared_account, per_strategy=per_strategy,
            allow_live=allow_live))

    def execute_raw(
        self,
        request: RequestLike,
        *,
        submit: bool = False,
        shared_account: bool = False,
        per_strategy: bool = False,
        allow_live: bool = False,
    ) -> dict[str, Any]:
        """``POST /rebalancing/execute``: turn a plan into orders (and submit them).

        Args:
            request: the rebalance request.
            submit: publish the orders (``rebalancing_orders``) instead of a dry run.
            shared_account: net orders across worlds (needs the server policy).
            per_strategy: one batch per strategy, orders carry ``strategy_id``.
            allow_live: send ``X-Allow-Live: true`` (needed for ``submit`` under the guard).

        Returns:
            The decoded execute answer.
        """
        headers = dict(_JSON)
        if allow_live:
            headers["x-allow-live"] = "true"
        body = self._call(
            "POST", "/rebalancing/execute", content=encode_request(request), headers=headers,
            params=_execute_params(submit, shared_account, per_strategy),
        )
        return body if isinstance(body, dict) else {"result": body}


class AsyncGatewayClient:
    """Async client of one Gateway; same methods as ``GatewayClient``, awaited.

    Args:
        base_url: the Gateway root.
        token: bearer token, when required.
        timeout: seconds per HTTP call.
        worldservice_url: WorldService root (default ``<base_url>/worldservice``).
        transport: an httpx async transport (tests may pass one).
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = 10.0,
        worldservice_url: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.worldservice_url = _ws_base(self.base_url, worldservice_url)
        self._http = httpx.AsyncClient(
            base_url=self.base_url, timeout=timeout, headers=_headers(token), transport=transport
        )

    async def __aenter__(self) -> AsyncGatewayClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def _call(self, method: str, url: str, **kwargs: Any) -> Any:
        try:
            response = await self._http.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            raise Unreachable(self.base_url, str(exc) or type(exc).__name__) from exc
        return _decode(response)

    async def health_raw(self) -> dict[str, Any]:
        """``GET /health`` as decoded JSON."""
        body = await self._call("GET", "/health")
        return body if isinstance(body, dict) else {}

    async def health(self) -> GatewayHealth:
        """``GET /health``, parsed into the capability bits."""
        return parse_health(await self.health_raw())

    async def worldservice_capabilities(self) -> dict[str, Any]:
        """``GET <worldservice>/capabilities``."""
        body = await self._call("GET", f"{self.worldservice_url}/capabilities")
        return body if isinstance(body, dict) else {}

    async def plan_raw(self, request: RequestLike) -> Any:
        """``POST /rebalancing/plan``; the decoded JSON answer."""
        return await self._call("POST", "/rebalancing/plan", content=encode_request(request),
                                headers=_JSON)

    async def plan(self, request: RequestLike) -> PlanResponse:
        """``POST /rebalancing/plan``; ``PlanV1`` or ``PlanV2``."""
        return decode_plan(await self.plan_raw(request))

    async def apply_raw(self, request: RequestLike, *, run_id: str | None = None) -> Any:
        """``POST /rebalancing/apply``; the decoded JSON answer."""
        return await self._call("POST", "/rebalancing/apply",
                                content=encode_request(request, run_id=run_id), headers=_JSON)

    async def apply(self, request: RequestLike, *, run_id: str | None = None) -> PlanResponse:
        """``POST /rebalancing/apply``; the stored plan."""
        return decode_plan(await self.apply_raw(request, run_id=run_id))

    async def execute(
        self,
        request: RequestLike,
        *,
        submit: bool = False,
        shared_account: bool = False,
        per_strategy: bool = False,
        allow_live: bool = False,
    ) -> ExecuteResponse:
        """``POST /rebalancing/execute``; see ``GatewayClient.execute_raw``."""
        headers = dict(_JSON)
        if allow_live:
            headers["x-allow-live"] = "true"
        body = await self._call(
            "POST", "/rebalancing/execute", content=encode_request(request), headers=headers,
            params=_execute_params(submit, shared_account, per_strategy),
        )
        return _execute_response(body)
