"""WorldService's own in-process face: the Gateway's client port without HTTP in between."""

from __future__ import annotations

from collections.abc import Callable

from app.contracts.allocations import AllocationsReply
from app.contracts.rebalancing import ApplyRequest, RebalanceRequest
from app.contracts.worldservice_client import WorldServiceCapabilities, WorldServiceReply
from app.errors import Code, ServiceUnavailableError
from app.web.pages import DEFAULT_PAGE, text_page_start
from app.worldservice.allocations import ALLOCATIONS, AllocationsService
from app.worldservice.applying import ApplyingService
from app.worldservice.plans import PlanningService

__all__ = ["InProcessWorldService"]


class InProcessWorldService:
    """Calls WorldService's use cases directly, with the same answers and errors as HTTP.

    The Gateway decodes a body with the same edge decoder WorldService's routes use and
    hands the typed request over; the use cases then validate and refuse exactly as they do
    behind ``POST /worldservice/...`` (a parity test holds the two faces together).

    Args:
        capabilities: what this WorldService serves.
        planning: the plan use case.
        applying: the apply use case (None when this process cannot apply).
        allocations: gives the allocations use case, looked up on first use (the use case
            can hand plans to the Gateway, which holds this face: a direct reference would
            be a cycle); None when this process cannot read allocations.
    """

    def __init__(
        self,
        capabilities: WorldServiceCapabilities,
        planning: PlanningService,
        applying: ApplyingService | None = None,
        allocations: Callable[[], AllocationsService] | None = None,
    ) -> None:
        self._capabilities = capabilities
        self._planning = planning
        self._applying = applying
        self._allocations = allocations

    async def plan(self, request: RebalanceRequest) -> WorldServiceReply:
        """Plan ``request`` as ``POST /worldservice/rebalancing/plan`` would."""
        return WorldServiceReply(plan=await self._planning.answer(request))

    async def apply(self, request: ApplyRequest) -> WorldServiceReply:
        """Apply ``request`` as ``POST /worldservice/rebalancing/apply`` would."""
        if self._applying is None:
            raise ServiceUnavailableError(
                "WorldService cannot apply plans in this process.",
                code=Code.WORLDSERVICE_UNAVAILABLE,
            )
        result = await self._applying.apply(request)
        return WorldServiceReply(plan=result.plan, content=result.body, replayed=result.replayed)

    async def allocations(
        self, world_id: str | None = None, *, limit: int | None = None,
        cursor: str | None = None,
    ) -> AllocationsReply:
        """Read the stored allocations as ``GET /worldservice/allocations`` would."""
        if self._allocations is None:
            raise ServiceUnavailableError(
                "WorldService cannot read allocations in this process.",
                code=Code.WORLDSERVICE_UNAVAILABLE,
            )
        after = text_page_start(ALLOCATIONS, cursor)
        if after is not None and limit is None:
            limit = DEFAULT_PAGE  # a cursor continues a paged listing
        return await self._allocations().current(world_id, limit=limit, after=after)

    async def capabilities(self) -> WorldServiceCapabilities:
        """Return this WorldService's capabilities (from its settings)."""
        return self._capabilities

    async def ping(self) -> bool:
        """The in-process WorldService is always reachable."""
        return True
