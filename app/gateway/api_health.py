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
    description=(
        "Needs a key with the `read` scope once any key exists (it discloses the "
        "configuration); credentials in URLs are shown as `[redacted]`."
    ),
    tags=["gateway"],
    opt={"scope": "read"},  # said explicitly: it discloses the configuration
)
async def get_status(gateway_health: NamedDependency[GatewayHealth]) -> StatusReport:
    """Answer ``GET /status``."""
    return await gateway_health.status()


@get(
    "/ready",
    summary="Readiness: 200 while the Gateway can serve, 503 E_NOT_READY otherwise",
    description=(
        "503 until start-up has finished, after shutdown began, and while the record "
        "store does not take writes (a write probe, refreshed every "
        "`gateway.health_cache_seconds`)."
    ),
    tags=["gateway"],
    opt={"public": True},  # the orchestrator's readiness probe has no key
)
async def get_ready(gateway_health: NamedDependency[GatewayHealth]) -> dict[str, str]:
    """Answer ``GET /ready``: 200 while the Gateway can serve, 503 otherwise."""
    reason = await gateway_health.serving()
    if reason is not None:
        raise ServiceUnavailableError(reason, code=Code.NOT_READY)
    return {"status": "ready"}


HEALTH_HANDLERS = [get_health, get_status, get_ready]
