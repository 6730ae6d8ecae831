"""``GET /worldservice/capabilities``: the schema versions this WorldService serves."""

from __future__ import annotations

from litestar import get
from litestar.handlers import HTTPRouteHandler

from app.container import Container
from app.contracts.worldservice_client import WorldServiceCapabilities
from app.settings import Settings

__all__ = ["capabilities_of", "capabilities_route"]


def capabilities_of(settings: Settings) -> WorldServiceCapabilities:
    """Return the capabilities ``settings`` give a WorldService (SPEC §4 ``max_version``)."""
    server = settings.worldservice.server
    return WorldServiceCapabilities(
        max_schema_version=2 if server.compat_rebalance_v2 else 1,
        compat_rebalance_v2=server.compat_rebalance_v2,
        alpha_metrics_required=server.alpha_metrics_required,
    )


def capabilities_route(container: Container) -> HTTPRouteHandler:
    """Build the ``GET /worldservice/capabilities`` handler for ``container``'s settings."""
    answer = capabilities_of(container.settings())

    @get(
        "/capabilities",
        sync_to_thread=False,
        summary="Schema versions this WorldService serves",
        description=(
            "`max_schema_version` is 2 when `worldservice.server.compat_rebalance_v2` is on, "
            "else 1; `alpha_metrics_required` means requests must ask for schema_version >= 2. "
            "Gateways read this to report version mismatches in `/health`."
        ),
        tags=["worldservice"],
    )
    def get_capabilities() -> WorldServiceCapabilities:
        """Answer ``GET /worldservice/capabilities``."""
        return answer

    return get_capabilities
