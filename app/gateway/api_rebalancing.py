"""Gateway rebalancing handlers: plan/apply/allocations proxies, execute, execution read-back."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.enums import MediaType
from litestar.params import FromPath, FromQuery, HeaderParameter, QueryParameter
from litestar.status_codes import HTTP_200_OK

from app.contracts.allocations import AllocationsReply
from app.contracts.rebalancing import ApplyRequest, ExecuteRequest, RebalanceRequest
from app.gateway.execution import ExecuteOptions, ExecutionService
from app.gateway.negotiation import NegotiatingClient
from app.store.ports import ExecutionRecord
from app.web.audit import note, note_answer_ids
from app.web.auth import require_scope
from app.web.decoding import decode_body, json_body
from app.web.openapi_examples import APPLY_BODY, EXECUTE_BODY, PLAN_BODY
from app.web.pages import MAX_PAGE, Limit, next_cursor, page_start

__all__ = [
    "REBALANCING_HANDLERS",
    "apply_rebalance",
    "execute_rebalance",
    "get_execution",
    "list_executions",
    "plan_rebalance",
    "read_allocations",
    "submit_execution",
]

_TRUE = frozenset({"true", "1", "yes"})


def _json(content: bytes, headers: dict[str, str] | None = None) -> Response[bytes]:
    return Response(
        content=content, media_type=MediaType.JSON, status_code=HTTP_200_OK, headers=headers
    )


def _plan_body(
    data: Annotated[RebalanceRequest, PLAN_BODY],
) -> None:  # pragma: no cover - never called
    """Documents the request body in OpenAPI; the handlers decode the raw body themselves."""


def _apply_body(
    data: Annotated[ApplyRequest, APPLY_BODY],
) -> None:  # pragma: no cover - never called
    """Documents the apply body in OpenAPI; the handler decodes the raw body itself."""


def _execute_body(
    data: Annotated[ExecuteRequest, EXECUTE_BODY],
) -> None:  # pragma: no cover - never called
    """Documents the execute body in OpenAPI; the handler decodes the raw body itself."""


_PLAN_BODY = {"plan_body": Provide(_plan_body, sync_to_thread=False)}


@post(
    "/rebalancing/plan",
    status_code=HTTP_200_OK,
    summary="Plan a rebalance through WorldService (schema negotiated)",
    description=(
        "Forwards the `MultiWorldRebalanceRequest` to WorldService with `schema_version` set "
        "to the configured `gateway.rebalance_schema_version` (or a lower one the caller "
        "asked for); when WorldService refuses a version above 1 it retries once at the "
        "next lower version (3 → 2 → 1). WorldService errors arrive with their own status "
        "and code; a request with a `policy` is never answered below v3 (422 "
        "`E_POLICY_REQUIRES_V3`)."
    ),
    tags=["gateway"],
    opt={"scope": "plan"},
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
    opt={"scope": "apply"},
    dependencies={"apply_body": Provide(_apply_body, sync_to_thread=False)},
)
async def apply_rebalance(
    request: Request[Any, Any, Any], negotiating_client: NamedDependency[NegotiatingClient]
) -> Response[bytes]:
    """Answer ``POST /rebalancing/apply`` with WorldService's stored plan."""
    body = decode_body(await json_body(request), ApplyRequest)
    note(request, run_id=body.run_id)
    applied = await negotiating_client.apply(body)
    content = applied.body()
    note_answer_ids(request, content)
    replay = "true" if applied.replayed else "false"
    return _json(content, {"X-Idempotent-Replay": replay})


@post(
    "/rebalancing/execute",
    status_code=HTTP_200_OK,
    summary="Turn a rebalance into orders (and optionally submit them)",
    description=(
        "Plans through WorldService, then converts the plan into orders per world "
        "(`per_strategy=true`: per strategy; `shared_account=true`: netted across worlds). "
        "Every order passes the pre-trade risk checks (`denied` lists the others, `status` "
        "says completed / completed_adjusted / rejected). Without `submit` the answer is a "
        "stored preview (`execution_id`, `etag`, `expires_at`) to submit with "
        "`POST /rebalancing/executions/{id}/submit`. `submit=true` records all batches "
        "atomically with one `rebalancing_orders` event each and needs `X-Allow-Live: true` "
        "while `gateway.enforce_live_guard` is on; a rejected execution, or any denial with "
        "`all_or_nothing=true`, is 422 `E_RISK_REJECTED` and nothing is recorded. "
        "A submit with an `Idempotency-Key` header (or a `run_id` in the body) is recorded "
        "once: a retry gets the stored answer (`X-Idempotent-Replay: true`), the same key "
        "with another request is 409 `E_EXECUTION_CONFLICT`. "
        "With a cash policy every batch lists its sells before its buys; `per_strategy` "
        "with a policy is 422."
    ),
    tags=["gateway"],
    opt={"scope": "execute", "scope_note": "and `submit` with `submit=true`"},
    dependencies={"execute_body": Provide(_execute_body, sync_to_thread=False)},
)
async def execute_rebalance(
    request: Request[Any, Any, Any],
    execution: NamedDependency[ExecutionService],
    submit: FromQuery[bool] = False,
    shared_account: FromQuery[bool] = False,
    per_strategy: FromQuery[bool] = False,
    all_or_nothing: FromQuery[bool] = False,
    allow_live: Annotated[
        str | None, HeaderParameter(name="X-Allow-Live", required=False)
    ] = None,
    idempotency_key: Annotated[
        str | None, HeaderParameter(name="Idempotency-Key", required=False)
    ] = None,
) -> Response[bytes]:
    """Answer ``POST /rebalancing/execute``."""
    if submit:
        require_scope(request, "submit")
    options = ExecuteOptions(
        submit=submit,
        shared_account=shared_account,
        per_strategy=per_strategy,
        allow_live=(allow_live or "").strip().lower() in _TRUE,
        all_or_nothing=all_or_nothing,
    )
    body = decode_body(await json_body(request), ExecuteRequest)
    note(request, run_id=body.run_id)
    executed = await execution.execute(body, options, idempotency_key)
    note_answer_ids(request, executed.content)
    keyed = submit and (idempotency_key is not None or body.run_id is not None)
    headers = {"X-Idempotent-Replay": "true" if executed.replayed else "false"} if keyed else None
    return _json(executed.content, headers)


@get(
    "/rebalancing/executions/{execution_id:str}",
    summary="Read back an execution: submitted, else its live preview",
    tags=["gateway"],
)
async def get_execution(
    execution_id: FromPath[str], execution: NamedDependency[ExecutionService]
) -> Response[bytes]:
    """Answer ``GET /rebalancing/executions/{execution_id}`` (404 unknown, 410 an expired
    preview)."""
    return _json(await execution.get(execution_id))


EXECUTIONS = "executions"
"""The cursor kind of the executions list."""


class SubmittedExecution(msgspec.Struct, frozen=True, kw_only=True):
    """One submitted execution of the list: its ids, its state and status (as in its
    answer) and its stored answer."""

    execution_id: str
    world_ids: list[str]
    batch_ids: list[str]
    created_at: float
    state: str | None
    status: str | None
    response: dict[str, Any]


def _submitted(record: ExecutionRecord) -> SubmittedExecution:
    answer = msgspec.json.decode(record.response)
    answer = answer if isinstance(answer, dict) else {}
    state, status = answer.get("state"), answer.get("status")
    return SubmittedExecution(
        execution_id=record.execution_id, world_ids=record.world_ids,
        batch_ids=record.batch_ids, created_at=record.created_at,
        state=state if isinstance(state, str) else None,
        status=status if isinstance(status, str) else None, response=answer,
    )


class SubmittedExecutions(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /rebalancing/executions``: newest first; ``next`` as for applied plans."""

    executions: list[SubmittedExecution]
    next: str | None


@get(
    "/rebalancing/executions",
    summary="List submitted executions, newest first, a page at a time",
    description=(
        "Optionally only executions with a batch for `world_id`; `limit` 1..1000 (default "
        "50); pass the answer's `next` as `cursor` for the following page."
    ),
    tags=["gateway"],
)
async def list_executions(
    execution: NamedDependency[ExecutionService],
    world_id: FromQuery[str | None] = None,
    limit: Limit = 50,
    cursor: FromQuery[str | None] = None,
) -> SubmittedExecutions:
    """Answer ``GET /rebalancing/executions``."""
    page = await execution.history(world_id, limit, page_start(EXECUTIONS, cursor))
    return SubmittedExecutions(executions=[_submitted(r) for r in page.executions],
                               next=next_cursor(EXECUTIONS, page.next))


@post(
    "/rebalancing/executions/{execution_id:str}/submit",
    status_code=HTTP_200_OK,
    summary="Submit a preview: exactly its orders, re-checked against the current risk state",
    description=(
        "Needs `If-Match: <etag>` with the preview's etag (428 without, 412 when stale) and "
        "`X-Allow-Live: true` while the live guard is on. The preview's orders are checked "
        "again under the current trading states and limits: if exactly the same orders pass "
        "they are submitted under the preview's `execution_id`; if they would differ the "
        "answer is 412 `E_PRECONDITION_FAILED` with a fresh preview in `preview`. Past "
        "`gateway.risk.preview_ttl_seconds`: 410 `E_PREVIEW_EXPIRED`. Submitting the same id "
        "again answers the stored execution (`X-Idempotent-Replay: true`)."
    ),
    tags=["gateway"],
    opt={"scope": "submit"},
)
async def submit_execution(
    request: Request[Any, Any, Any],
    execution_id: FromPath[str],
    execution: NamedDependency[ExecutionService],
    if_match: Annotated[str | None, HeaderParameter(name="If-Match", required=False)] = None,
    allow_live: Annotated[
        str | None, HeaderParameter(name="X-Allow-Live", required=False)
    ] = None,
) -> Response[bytes]:
    """Answer ``POST /rebalancing/executions/{execution_id}/submit``."""
    note(request, execution_id=execution_id)
    live = (allow_live or "").strip().lower() in _TRUE
    content, replayed = await execution.submit_preview(execution_id, if_match, live)
    return _json(content, {"X-Idempotent-Replay": "true" if replayed else "false"})


@get(
    "/allocations",
    summary="Read WorldService's stored world allocations (proxied)",
    description=(
        "Answers what `GET /worldservice/allocations[?world_id=]` answers (404 "
        "`E_WORLD_NOT_FOUND` for a world without a stored allocation), so QMTL's "
        "`world allocations` and `rebalance-apply` commands work against the Gateway. A "
        "QMTL WorldService's snapshots are read leniently and answered in Worldgate's shape."
    ),
    tags=["gateway"],
)
async def read_allocations(
    negotiating_client: NamedDependency[NegotiatingClient],
    world_id: FromQuery[str | None] = None,
    limit: Annotated[int | None, QueryParameter(ge=1, le=MAX_PAGE)] = None,
    cursor: FromQuery[str | None] = None,
) -> AllocationsReply:
    """Answer ``GET /allocations[?world_id=][&limit=&cursor=]`` (pages as WorldService's)."""
    return await negotiating_client.allocations(world_id, limit=limit, cursor=cursor)


REBALANCING_HANDLERS = [
    plan_rebalance,
    apply_rebalance,
    read_allocations,
    execute_rebalance,
    list_executions,
    get_execution,
    submit_execution,
]
