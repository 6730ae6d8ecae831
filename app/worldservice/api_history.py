"""WorldService applied-plan history: a paged list and one plan by ``run_id``."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery

from app.contracts.events import REBALANCING_PLANNED
from app.store.ports import StoredPlan
from app.web.pages import Limit, next_cursor, page_start
from app.worldservice.applying import ApplyingService

__all__ = ["HISTORY_HANDLERS", "AppliedPlan", "AppliedPlans", "EventRef"]

PLANS = "plans"
"""The cursor kind of this list."""


class EventRef(msgspec.Struct, frozen=True, kw_only=True):
    """An event a plan produced (fetch it from the event log / ``WS /events`` by ``id``)."""

    id: str
    topic: str


class AppliedPlan(msgspec.Struct, frozen=True, kw_only=True):
    """One applied plan: what was answered and which events it queued."""

    run_id: str
    schema_version: int
    world_ids: list[str]
    created_at: float
    response: dict[str, Any]
    events: list[EventRef]


class AppliedPlans(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /worldservice/rebalancing/plans``: newest first; ``next`` is the cursor of the
    following page (null on the last one)."""

    plans: list[AppliedPlan]
    next: str | None


def _applied(p: StoredPlan) -> AppliedPlan:
    return AppliedPlan(
        run_id=p.run_id,
        schema_version=p.schema_version,
        world_ids=p.world_ids,
        created_at=p.created_at,
        response=msgspec.json.decode(p.response),
        events=[EventRef(id=i, topic=REBALANCING_PLANNED) for i in p.event_ids],
    )


@get(
    "/rebalancing/plans",
    summary="Read back applied plans, newest first, a page at a time",
    description=(
        "Optionally only plans touching `world_id`; `limit` 1..1000 (default 50). The answer's "
        "`next` is an opaque cursor: pass it as `cursor` for the following page (null on the "
        "last page). Cursors stay valid while plans are added."
    ),
    tags=["worldservice"],
)
async def list_plans(
    applying: NamedDependency[ApplyingService],
    world_id: FromQuery[str | None] = None,
    limit: Limit = 50,
    cursor: FromQuery[str | None] = None,
) -> AppliedPlans:
    """Answer ``GET /worldservice/rebalancing/plans``."""
    page = await applying.history(world_id, limit, page_start(PLANS, cursor))
    return AppliedPlans(plans=[_applied(p) for p in page.plans],
                        next=next_cursor(PLANS, page.next))


@get(
    "/rebalancing/plans/{run_id:str}",
    summary="Read back one applied plan by its run_id",
    description="404 `E_PLAN_NOT_FOUND` when no plan was applied under `run_id`.",
    tags=["worldservice"],
)
async def get_plan(
    run_id: FromPath[str], applying: NamedDependency[ApplyingService]
) -> AppliedPlan:
    """Answer ``GET /worldservice/rebalancing/plans/{run_id}``."""
    return _applied(await applying.applied(run_id))


HISTORY_HANDLERS = [list_plans, get_plan]
