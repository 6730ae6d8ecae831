"""WorldService record endpoints: apply, allocations and the applied-plan history."""

from __future__ import annotations

from typing import Annotated, Any, cast

from litestar import Request, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromQuery, QueryParameter
from litestar.status_codes import HTTP_200_OK

from app.contracts.allocations import AllocationsReply, AllocationsRequest
from app.contracts.rebalancing import ApplyRequest, PlanResponse
from app.web.audit import note
from app.web.auth import require_scope
from app.web.decoding import decode_body, json_body
from app.web.openapi_examples import ALLOCATIONS_BODY, APPLY_BODY
from app.web.pages import DEFAULT_PAGE, MAX_PAGE, text_page_start
from app.worldservice.allocations import ALLOCATIONS, AllocationsService
from app.worldservice.api_history import HISTORY_HANDLERS
from app.worldservice.applying import ApplyingService
from app.worldservice.records import ApplyResult

__all__ = ["RECORD_HANDLERS"]

_APPLY = {"scope": "apply"}


def _apply_body(
    data: Annotated[ApplyRequest, APPLY_BODY],
) -> None:  # pragma: no cover - never called
    """Documents the apply body in OpenAPI; the handler decodes the raw body itself."""


def _allocations_body(
    data: Annotated[AllocationsRequest, ALLOCATIONS_BODY],
) -> None:  # pragma: no cover - never called
    """Documents the allocations body in OpenAPI; the handler decodes the raw body itself."""


def _stored_answer(result: ApplyResult) -> Response[PlanResponse]:
    # The stored bytes go out unchanged (Response.render passes bytes through), so a retry
    # of a run_id gets byte-for-byte the first answer.
    return Response(
        content=cast("PlanResponse", result.body),
        status_code=HTTP_200_OK,
        media_type="application/json",
        headers={"X-Idempotent-Replay": "true" if result.replayed else "false"},
    )


@post(
    "/rebalancing/apply",
    status_code=HTTP_200_OK,
    opt=_APPLY,
    summary="Apply (record) a rebalance plan and announce it",
    description=(
        "Plans like `/rebalancing/plan`, then stores the plan and one `rebalancing_planned` "
        "event per world in one transaction (the outbox publishes them). Idempotent by "
        "`run_id`: the same body again returns the stored answer; another body is 409 "
        "`E_RUN_ID_CONFLICT`. A store failure is 503 `E_STORE_UNAVAILABLE`."
    ),
    tags=["worldservice"],
    dependencies={"apply_body": Provide(_apply_body, sync_to_thread=False)},
)
async def apply_plan(
    request: Request[Any, Any, Any], applying: NamedDependency[ApplyingService]
) -> Response[PlanResponse]:
    """Answer ``POST /worldservice/rebalancing/apply`` (200, also for a replay)."""
    body = decode_body(await json_body(request), ApplyRequest)
    note(request, run_id=body.run_id)
    result = await applying.apply(body)
    note(request, run_id=result.run_id)
    return _stored_answer(result)


@post(
    "/allocations",
    status_code=HTTP_200_OK,
    opt={**_APPLY, "scope_note": "and `submit` with `execute: true`"},
    summary="Upsert world allocations and plan against the stored ones",
    description=(
        "Plans from the stored allocations (before) to `world_allocations` (after), stores "
        "them with their events, and answers the plan plus `run_id`, `etag`, `executed`. "
        "409 `E_RUN_ID_CONFLICT` on a changed payload, 409 `E_ETAG_MISMATCH` on a stale "
        "`etag`, 503 `E_EXECUTOR_UNAVAILABLE` for `execute: true` without a Gateway."
    ),
    tags=["worldservice"],
    dependencies={"allocations_body": Provide(_allocations_body, sync_to_thread=False)},
)
async def upsert_allocations(
    request: Request[Any, Any, Any], allocations: NamedDependency[AllocationsService]
) -> Response[PlanResponse]:
    """Answer ``POST /worldservice/allocations``."""
    body = decode_body(await json_body(request), AllocationsRequest)
    note(request, run_id=body.run_id)
    if body.execute:  # hands the plan to the Gateway for live submission
        require_scope(request, "submit")
    return _stored_answer(await allocations.upsert(body))


@get(
    "/allocations",
    summary="Read the stored world allocations",
    description=(
        "All worlds, or one with `?world_id=` (404 when it has none). With `limit` (1..1000) "
        "a page of worlds in world order; pass the answer's `next` as `cursor` for the "
        "following page."
    ),
    tags=["worldservice"],
)
async def read_allocations(
    allocations: NamedDependency[AllocationsService],
    world_id: FromQuery[str | None] = None,
    limit: Annotated[int | None, QueryParameter(ge=1, le=MAX_PAGE)] = None,
    cursor: FromQuery[str | None] = None,
) -> AllocationsReply:
    """Answer ``GET /worldservice/allocations[?world_id=][?limit=&cursor=]``."""
    after = text_page_start(ALLOCATIONS, cursor)
    if after is not None and limit is None:
        limit = DEFAULT_PAGE  # a cursor continues a paged listing
    return await allocations.current(world_id, limit=limit, after=after)


RECORD_HANDLERS = [apply_plan, upsert_allocations, read_allocations, *HISTORY_HANDLERS]
