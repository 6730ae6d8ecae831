"""Gateway rebalancing handlers: plan/apply proxies, execute and execution read-back."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.enums import MediaType
from litestar.params import FromPath, FromQuery, HeaderParameter
from litestar.status_codes import HTTP_200_OK

from app.contracts.rebalancing import ApplyRequest, ExecuteRequest, RebalanceRequest
from app.gateway.execution import ExecuteOptions, ExecutionService
from app.gateway.negotiation import NegotiatingClient
from app.web.decoding import decode_body, json_body

__all__ = [
    "REBALANCING_HANDLERS",
    "apply_rebalance",
    "execute_rebalance",
    "get_execution",
    "plan_rebalance",
]

_TRUE = frozenset({"true", "1", "yes"})


def _json(content: bytes, headers: dict[str, str] | None = None) -> Response[bytes]:
    return Response(
        content=content, media_type=MediaType.JSON, status_code=HTTP_200_OK, headers=headers
    )


def _plan_body(data: RebalanceRequest) -> None:  # pragma: no cover - never called
    """Documents the request body in OpenAPI; the handlers decode the raw body themselves."""


def _apply_body(data: ApplyRequest) -> None:  # pragma: no cover - never called
    """Documents the apply body in OpenAPI; the handler decodes the raw body itself."""


def _execute_body(data: ExecuteRequest) -> None:  # pragma: no cover - never called
    """Documents the execute body in OpenAPI; the handler decodes the raw body itself."""


_PLAN_BODY = {"plan_body": Provide(_plan_body, sync_to_thread=False)}


@post(
    "/rebalancing/plan",
    status_code=HTTP_200_OK,
    summary="Plan a rebalance through WorldService (schema negotiated)",
    description=(
        "Forwards the `MultiWorldRebalanceRequest` to WorldService with `schema_version` set "
        "to the configured `gateway.rebalance_schema_version` (or a lower one the caller "
        "asked for); retries once as v1 when WorldService refuses v2. WorldService errors "
        "arrive with their own status and code."
    ),
    tags=["gateway"],
    dependencies=_PLAN_BODY,
)
async def plan_rebalance(
    request: Request[Any, Any, Any], negotiating_client: NamedDependency[NegotiatingClient]
) -> Response[bytes]:
    """Answer ``POST /rebalancing/plan`` with WorldService's plan."""
    body = decode_body(await json_body(request), RebalanceRequest)
    return _json((await negotiating_client.plan(body)).body())


@post(
    "/rebalancing/apply",
    status_code=HTTP_200_OK,
    summary="Apply a rebalance through WorldService (schema negotiated)",
    tags=["gateway"],
    opt={"mutating": True},
    dependencies={"apply_body": Provide(_apply_body, sync_to_thread=False)},
)
async def apply_rebalance(
    request: Request[Any, Any, Any], negotiating_client: NamedDependency[NegotiatingClient]
) -> Response[bytes]:
    """Answer ``POST /rebalancing/apply`` with WorldService's stored plan."""
    applied = await negotiating_client.apply(decode_body(await json_body(request), ApplyRequest))
    replay = "true" if applied.replayed else "false"
    return _json(applied.body(), {"X-Idempotent-Replay": replay})


@post(
    "/rebalancing/execute",
    status_code=HTTP_200_OK,
    summary="Turn a rebalance into orders (and optionally submit them)",
    description=(
        "Plans through WorldService, then converts the plan into orders per world "
        "(`per_strategy=true`: per strategy; `shared_account=true`: netted across worlds). "
        "`submit=true` records all batches atomically with one `rebalancing_orders` event "
        "each and needs `X-Allow-Live: true` while `gateway.enforce_live_guard` is on. A "
        "submit with an `Idempotency-Key` header (or a `run_id` in the body) is recorded "
        "once: a retry gets the stored answer (`X-Idempotent-Replay: true`), the same key "
        "with another request is 409 `E_EXECUTION_CONFLICT`."
    ),
    tags=["gateway"],
    opt={"mutating": True},
    dependencies={"execute_body": Provide(_execute_body, sync_to_thread=False)},
)
async def execute_rebalance(
    request: Request[Any, Any, Any],
    execution: NamedDependency[ExecutionService],
    submit: FromQuery[bool] = False,
    shared_account: FromQuery[bool] = False,
    per_strategy: FromQuery[bool] = False,
    allow_live: Annotated[
        str | None, HeaderParameter(name="X-Allow-Live", required=False)
    ] = None,
    idempotency_key: Annotated[
        str | None, HeaderParameter(name="Idempotency-Key", required=False)
    ] = None,
) -> Response[bytes]:
    """Answer ``POST /rebalancing/execute``."""
    options = ExecuteOptions(
        submit=submit,
        shared_account=shared_account,
        per_strategy=per_strategy,
        allow_live=(allow_live or "").strip().lower() in _TRUE,
    )
    body = decode_body(await json_body(request), ExecuteRequest)
    executed = await execution.execute(body, options, idempotency_key)
    keyed = submit and (idempotency_key is not None or body.run_id is not None)
    headers = {"X-Idempotent-Replay": "true" if executed.replayed else "false"} if keyed else None
    return _json(executed.content, headers)


@get(
    "/rebalancing/executions/{execution_id:str}",
    summary="Read back a submitted execution",
    tags=["gateway"],
)
async def get_execution(
    execution_id: FromPath[str], execution: NamedDependency[ExecutionService]
) -> Response[bytes]:
    """Answer ``GET /rebalancing/executions/{execution_id}`` (404 when unknown)."""
    return _json(await execution.get(execution_id))


REBALANCING_HANDLERS = [plan_rebalance, apply_rebalance, execute_rebalance, get_execution]
