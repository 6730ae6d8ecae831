"""Gateway ``GET /health``, ``GET /status`` and ``GET /ready`` handlers (SPEC §8)."""

from __future__ import annotations

from litestar import get
from litestar.di import NamedDependency

from app.contracts.health import HealthReport, StatusReport
from app.errors import Code, ServiceUnavailableError
from app.gateway.health import GatewayHealth

__all__ = ["HEALTH_HANDLERS", "get_health", "get_ready", "get_status"]


@get(
    "/health",
    summary="Gateway health and capability bits",
    description=(
        "Always 200. `status` is `degraded` (with `reason`) when a component is down or "
        "`gateway.rebalance_schema_version` exceeds what WorldService serves. The capability "
        "bits appear at the top level (where QMTL SDKs read them) and under `capabilities`."
    ),
    tags=["gateway"],
    opt={"public": True},  # probes and QMTL SDKs read it without a key
)
async def get_health(gateway_health: NamedDependency[GatewayHealth]) -> HealthReport:
    """Answer ``GET /health``."""
    return await gateway_health.health()


@get(
    "/status",
    summary="Gateway status: health plus the running configuration",
    tags=["gateway"],
)
async def get_status(gateway_health: NamedDependency[GatewayHealth]) -> StatusReport:
    """Answer ``GET /status``."""
    return await gateway_health.status()


@get(
    "/ready",
    summary="Readiness: 503 until start-up has finished",
    tags=["gateway"],
    sync_to_thread=False,
    opt={"public": True},  # the orchestrator's readiness probe has no key
)
def get_ready(gateway_health: NamedDependency[GatewayHealth]) -> dict[str, str]:
    """Answer ``GET /ready``: 200 once every component has started, 503 before/after."""
    if not gateway_health.ready:
        raise ServiceUnavailableError("The Gateway is not ready yet.", code=Code.NOT_READY)
    return {"status": "ready"}


HEALTH_HANDLERS = [get_health, get_status, get_ready]
