"""Sync and async Gateway clients (httpx): I/O shells over the ``app.sdk.calls`` core."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any, Generic, TypeVar

import httpx

from app.contracts.orders import ExecuteResponse
from app.contracts.rebalancing import PlanResponse
from app.sdk import calls
from app.sdk.calls import Call, RequestLike
from app.sdk.client_admin import AdminMethods, AsyncAdminMethods
from app.sdk.client_risk import AsyncRiskMethods, RiskMethods
from app.sdk.errors import Unreachable
from app.sdk.wire import (
    AppliedPlanRecord,
    GatewayHealth,
    decode_plan,
    gather_plans,
    page_limit,
    parse_health,
)

__all__ = ["AsyncGatewayClient", "GatewayClient", "RequestLike"]

T = TypeVar("T")
H = TypeVar("H", httpx.BaseTransport, httpx.AsyncBaseTransport)
X = TypeVar("X", httpx.Client, httpx.AsyncClient)


class _Shell(Generic[H, X]):
    """What both clients share: the roots, the token, and an httpx client of kind ``X``."""

    _http_class: Callable[..., X]

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = 10.0,
        worldservice_url: str | None = None,
        transport: H | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.worldservice_url = calls.worldservice_base(self.base_url, worldservice_url)
        self._http: X = self._http_class(base_url=self.base_url, timeout=timeout,
                                         headers=calls.auth_headers(token), transport=transport)

    def _unreachable(self, exc: httpx.TransportError) -> Unreachable:
        return Unreachable(self.base_url, str(exc) or type(exc).__name__)


class GatewayClient(RiskMethods, AdminMethods, _Shell[httpx.BaseTransport, httpx.Client]):
    """Blocking client of one Gateway.

    Args:
        base_url: the Gateway root, e.g. ``http://127.0.0.1:8000``.
        token: the secret of an API key (``Authorization: Bearer``), when the deployment
            requires keys; sent on every call.
        timeout: seconds per HTTP call.
        worldservice_url: WorldService root for ``worldservice_capabilities`` (default
            ``<base_url>/worldservice``, the combined deployment).
        transport: an httpx transport (tests may pass one).
    """

    _http_class = httpx.Client

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

    def _run(self, call: Call[T]) -> T:
        try:
            response = self._http.request(call.method, call.url, content=call.content,
                                          headers=call.headers, params=call.params)
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
        return call.finish(response)

    def health_raw(self) -> dict[str, Any]:
        """``GET /health`` as decoded JSON."""
        return self._run(calls.health())

    def health(self) -> GatewayHealth:
        """``GET /health``, parsed into the capability bits."""
        return self._run(calls.health().then(parse_health))

    def worldservice_capabilities(self) -> dict[str, Any]:
        """``GET <worldservice>/capabilities``: ``max_schema_version``, the v2 switches."""
        return self._run(calls.worldservice_capabilities(self.worldservice_url))

    def plan_raw(self, request: RequestLike) -> Any:
        """``POST /rebalancing/plan``; the decoded JSON answer."""
        return self._run(calls.plan(request))

    def plan(self, request: RequestLike) -> PlanResponse:
        """``POST /rebalancing/plan``; the answer as ``PlanV1``, ``PlanV2`` or ``PlanV3``."""
        return self._run(calls.plan(request).then(decode_plan))

    def worldservice_plan_raw(self, request: RequestLike) -> Any:
        """``POST <worldservice>/rebalancing/plan`` directly (bypassing the Gateway's
        negotiation); the decoded JSON answer."""
        return self._run(calls.worldservice_plan(self.worldservice_url, request))

    def apply_raw(self, request: RequestLike, *, run_id: str | None = None) -> Any:
        """``POST /rebalancing/apply`` (store the plan, announce it); decoded JSON."""
        return self._run(calls.apply(request, run_id))

    def applied_plans(
        self, *, world_id: str | None = None, limit: int = 50
    ) -> list[AppliedPlanRecord]:
        """Applied plans, newest first, typed (their ``alpha_metrics`` parsed), read page
        after page until ``limit`` of them.

        Args:
            world_id: only plans that include this world.
            limit: at most this many.
        """
        records: list[AppliedPlanRecord] = []
        cursor: str | None = None
        while True:
            page = self.list_plans(world_id=world_id, limit=page_limit(records, limit),
                                   cursor=cursor)
            cursor = gather_plans(records, page, limit)
            if cursor is None:
                return records

    def apply(self, request: RequestLike, *, run_id: str | None = None) -> PlanResponse:
        """``POST /rebalancing/apply``; the stored plan as ``PlanV1``, ``PlanV2`` or ``PlanV3``."""
        return self._run(calls.apply(request, run_id).then(decode_plan))

    def execute(
        self,
        request: RequestLike,
        *,
        submit: bool = False,
        shared_account: bool = False,
        per_strategy: bool = False,
        allow_live: bool = False,
        all_or_nothing: bool = False,
    ) -> ExecuteResponse:
        """``POST /rebalancing/execute``, decoded into ``ExecuteResponse``; see
        ``execute_raw`` for the arguments."""
        return self._run(calls.execute(
            request, submit=submit, shared_account=shared_account, per_strategy=per_strategy,
            allow_live=allow_live, all_or_nothing=all_or_nothing).then(calls.execute_response))

    def execute_raw(
        self,
        request: RequestLike,
        *,
        submit: bool = False,
        shared_account: bool = False,
        per_strategy: bool = False,
        allow_live: bool = False,
        all_or_nothing: bool = False,
    ) -> dict[str, Any]:
        """``POST /rebalancing/execute``: turn a plan into risk-checked orders.

        Args:
            request: the rebalance request.
            submit: publish the orders (``rebalancing_orders``); without it the answer is
                a stored preview to ``submit_preview`` later.
            shared_account: net orders across worlds (needs the server policy).
            per_strategy: one batch per strategy, orders carry ``strategy_id``.
            allow_live: send ``X-Allow-Live: true`` (needed for ``submit`` under the guard).
            all_or_nothing: refuse the submit (``RiskRejected``) if any order is denied.

        Returns:
            The decoded execute answer.
        """
        return self._run(calls.execute(
            request, submit=submit, shared_account=shared_account, per_strategy=per_strategy,
            allow_live=allow_live, all_or_nothing=all_or_nothing))

    def list_plans(self, *, world_id: str | None = None, limit: int = 50,
                   cursor: str | None = None) -> dict[str, Any]:
        """One page of applied plans, newest first: ``{"plans": [...], "next": cursor}``
        (from WorldService; pass ``next`` as ``cursor`` for the following page)."""
        return self._run(calls.list_plans(self.worldservice_url, world_id, limit, cursor))

    def get_plan(self, run_id: str) -> dict[str, Any]:
        """The plan applied under ``run_id`` (``NotFound`` when there is none)."""
        return self._run(calls.get_plan(self.worldservice_url, run_id))

    def list_executions(self, *, world_id: str | None = None, limit: int = 50,
                        cursor: str | None = None) -> dict[str, Any]:
        """One page of submitted executions, newest first: ``{"executions", "next"}``."""
        return self._run(calls.list_executions(world_id, limit, cursor))

    def get_execution_raw(self, execution_id: str) -> dict[str, Any]:
        """``get_execution`` as decoded JSON: a submitted execution, else its preview."""
        return self._run(calls.execution(execution_id))

    def iter_plans(self, *, world_id: str | None = None,
                   page_size: int = 200) -> Iterator[dict[str, Any]]:
        """Every applied plan, newest first, fetching page after page as it goes."""
        return _follow(lambda c: self.list_plans(world_id=world_id, limit=page_size, cursor=c),
                       "plans")

    def iter_executions(self, *, world_id: str | None = None,
                        page_size: int = 200) -> Iterator[dict[str, Any]]:
        """Every submitted execution, newest first, page after page."""
        return _follow(lambda c: self.list_executions(world_id=world_id, limit=page_size,
                                                      cursor=c), "executions")


def _follow(fetch: Callable[[str | None], dict[str, Any]], key: str
            ) -> Iterator[dict[str, Any]]:
    cursor: str | None = None
    while True:
        page = fetch(cursor)
        yield from page.get(key) or []
        cursor = page.get("next")
        if not cursor:
            return


class AsyncGatewayClient(
    AsyncRiskMethods, AsyncAdminMethods, _Shell[httpx.AsyncBaseTransport, httpx.AsyncClient]
):
    """Async client of one Gateway; same methods as ``GatewayClient``, awaited.

    Args:
        base_url: the Gateway root.
        token: the secret of an API key, when the deployment requires keys.
        timeout: seconds per HTTP call.
        worldservice_url: WorldService root (default ``<base_url>/worldservice``).
        transport: an httpx async transport (tests may pass one).
    """

    _http_class = httpx.AsyncClient

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

    async def _run(self, call: Call[T]) -> T:
        try:
            response = await self._http.request(call.method, call.url, content=call.content,
                                                headers=call.headers, params=call.params)
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
        return call.finish(response)

    async def health_raw(self) -> dict[str, Any]:
        """``GET /health`` as decoded JSON."""
        return await self._run(calls.health())

    async def health(self) -> GatewayHealth:
        """``GET /health``, parsed into the capability bits."""
        return await self._run(calls.health().then(parse_health))

    async def worldservice_capabilities(self) -> dict[str, Any]:
        """``GET <worldservice>/capabilities``."""
        return await self._run(calls.worldservice_capabilities(self.worldservice_url))

    async def plan_raw(self, request: RequestLike) -> Any:
        """``POST /rebalancing/plan``; the decoded JSON answer."""
        return await self._run(calls.plan(request))

    async def plan(self, request: RequestLike) -> PlanResponse:
        """``POST /rebalancing/plan``; ``PlanV1``, ``PlanV2`` or ``PlanV3``."""
        return await self._run(calls.plan(request).then(decode_plan))

    async def apply_raw(self, request: RequestLike, *, run_id: str | None = None) -> Any:
        """``POST /rebalancing/apply``; the decoded JSON answer."""
        return await self._run(calls.apply(request, run_id))

    async def apply(self, request: RequestLike, *, run_id: str | None = None) -> PlanResponse:
        """``POST /rebalancing/apply``; the stored plan."""
        return await self._run(calls.apply(request, run_id).then(decode_plan))

    async def applied_plans(
        self, *, world_id: str | None = None, limit: int = 50
    ) -> list[AppliedPlanRecord]:
        """Applied plans, typed (see ``GatewayClient.applied_plans``)."""
        records: list[AppliedPlanRecord] = []
        cursor: str | None = None
        while True:
            page = await self.list_plans(world_id=world_id, limit=page_limit(records, limit),
                                         cursor=cursor)
            cursor = gather_plans(records, page, limit)
            if cursor is None:
                return records

    async def execute(
        self,
        request: RequestLike,
        *,
        submit: bool = False,
        shared_account: bool = False,
        per_strategy: bool = False,
        allow_live: bool = False,
        all_or_nothing: bool = False,
    ) -> ExecuteResponse:
        """``POST /rebalancing/execute``; see ``GatewayClient.execute_raw``."""
        return await self._run(calls.execute(
            request, submit=submit, shared_account=shared_account, per_strategy=per_strategy,
            allow_live=allow_live, all_or_nothing=all_or_nothing).then(calls.execute_response))

    async def list_plans(self, *, world_id: str | None = None, limit: int = 50,
                         cursor: str | None = None) -> dict[str, Any]:
        """One page of applied plans (see ``GatewayClient.list_plans``)."""
        return await self._run(calls.list_plans(self.worldservice_url, world_id, limit, cursor))

    async def list_executions(self, *, world_id: str | None = None, limit: int = 50,
                              cursor: str | None = None) -> dict[str, Any]:
        """One page of submitted executions (see ``GatewayClient.list_executions``)."""
        return await self._run(calls.list_executions(world_id, limit, cursor))
