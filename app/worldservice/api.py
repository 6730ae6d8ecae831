"""WorldService HTTP controller, mounted at ``/worldservice``: decode, call, encode."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from litestar import Request, Router, post
from litestar.di import NamedDependency, Provide
from litestar.status_codes import HTTP_200_OK

from app.contracts.rebalancing import PlanResponse, RebalanceRequest
from app.contracts.worldservice_client import WorldServiceCapabilities
from app.web.decoding import decode_body, json_body
from app.web.openapi_examples import PLAN_BODY
from app.worldservice.allocations import AllocationsService
from app.worldservice.api_capabilities import capabilities_route
from app.worldservice.api_records import RECORD_HANDLERS
from app.worldservice.applying import ApplyingService
from app.worldservice.plans import PlanningService

__all__ = ["plan_rebalance", "worldservice_router"]


def _openapi_body(
    data: Annotated[RebalanceRequest, PLAN_BODY],
) -> None:  # pragma: no cover - never called
    """Documents the plan body in OpenAPI; the handler decodes the raw body itself."""


@post(
    "/rebalancing/plan",
    status_code=HTTP_200_OK,
    summary="Plan a multi-world rebalance",
    description=(
        "Computes per-world deltas, netted global deltas and (overlay/hybrid) overlay deltas. "
        "The answer is schema v1, v2 or v3 as negotiated from `schema_version` and the "
        "server's `compat_rebalance_v2`/`compat_rebalance_v3` switches; an answer never "
        "carries the fields of a later version. v3 applies the request's `policy` (no-trade "
        "band, turnover cap, cash-aware funding, cost model) and adds `skipped`, "
        "`projection` and `funding`; a `policy` that negotiates below v3 is 422 "
        "`E_POLICY_REQUIRES_V3`."
    ),
    tags=["worldservice"],
    opt={"scope": "plan"},
    # Litestar documents a `data` parameter of a handler dependency as the request body; the
    # handler itself reads raw bytes so the body is decoded once, typed, by msgspec.
    dependencies={"plan_body": Provide(_openapi_body, sync_to_thread=False)},
)
async def plan_rebalance(
    request: Request[Any, Any, Any], planning: NamedDependency[PlanningService]
) -> PlanResponse:
    """Answer ``POST /worldservice/rebalancing/plan``."""
    return await planning.answer(decode_body(await json_body(request), RebalanceRequest))


def worldservice_router(
    *,
    planning: Callable[[], PlanningService],
    applying: Callable[[], ApplyingService],
    allocations: Callable[[], AllocationsService],
    capabilities: WorldServiceCapabilities,
) -> Router:
    """Build the ``/worldservice`` router around the use cases it serves.

    Args:
        planning: gives the plan use case.
        applying: gives the apply use case.
        allocations: gives the allocations use case.
        capabilities: what this WorldService serves.
    """
    return Router(
        path="/worldservice",
        route_handlers=[plan_rebalance, *RECORD_HANDLERS, capabilities_route(capabilities)],
        dependencies={
            # Lambdas: Litestar reads a provider's signature, a DI provider has none.
            "planning": Provide(lambda: planning(), sync_to_thread=False),
            "applying": Provide(lambda: applying(), sync_to_thread=False),
            "allocations": Provide(lambda: allocations(), sync_to_thread=False),
        },
    )
