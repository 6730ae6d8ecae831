"""The in-process adapter of the WorldService client port: WorldService's own face."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from app.contracts.rebalancing import ApplyRequest, RebalanceRequest
from app.contracts.worldservice_client import WorldServiceCapabilities, WorldServiceReply
from app.errors import ServiceUnavailableError, ValidationFailedError
from app.settings import Settings
from app.worldservice.api_capabilities import capabilities_of
from app.worldservice.applying import ApplyingService
from app.worldservice.planning import PlanningService

__all__ = ["InProcessWorldServiceClient"]

_encoder = msgspec.json.Encoder()
R = TypeVar("R", bound=RebalanceRequest)


def _error_item(message: str) -> dict[str, str]:
    text, _, path = message.partition(" - at `$")
    return {"path": "$" + path.rstrip("`") if path else "$", "message": text}


def _decode(body: dict[str, Any], kind: type[R]) -> R:
    """Convert a decoded JSON body like the HTTP endpoint would (422 on a bad field)."""
    try:
        return msgspec.convert(body, kind, strict=False)
    except msgspec.ValidationError as exc:
        item = _error_item(str(exc))
        raise ValidationFailedError(
            f"{item['message']} (at {item['path']})", errors=[item]
        ) from exc


class InProcessWorldServiceClient:
    """Calls WorldService's use cases directly, with the same answers and errors as HTTP.

    Args:
        settings: the configuration (its ``[worldservice.server]`` gives the capabilities).
        planning: the plan use case.
        applying: the apply use case (None when this process cannot apply).
    """

    def __init__(
        self,
        settings: Settings,
        planning: PlanningService,
        applying: ApplyingService | None = None,
    ) -> None:
        self._capabilities = capabilities_of(settings)
        self._planning = planning
        self._applying = applying

    async def plan(self, body: dict[str, Any]) -> WorldServiceReply:
        """Plan ``body`` as ``POST /worldservice/rebalancing/plan`` would."""
        request = _decode(body, RebalanceRequest)
        return WorldServiceReply(content=_encoder.encode(self._planning.plan(request)))

    async def apply(self, body: dict[str, Any]) -> WorldServiceReply:
        """Apply ``body`` as ``POST /worldservice/rebalancing/apply`` would."""
        if self._applying is None:
            raise ServiceUnavailableError(
                "WorldService cannot apply plans in this process.",
                code="E_WORLDSERVICE_UNAVAILABLE",
            )
        request = _decode(body, ApplyRequest)
        result = await self._applying.apply(request)
        return WorldServiceReply(content=result.body)

    async def capabilities(self) -> WorldServiceCapabilities:
        """Return this WorldService's capabilities (from its settings)."""
        return self._capabilities

    async def ping(self) -> bool:
        """The in-process WorldService is always reachable."""
        return True
