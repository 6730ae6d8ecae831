"""``GET /worldservice/capabilities``: the schema versions this WorldService serves."""

from __future__ import annotations

from litestar import get
from litestar.handlers import HTTPRouteHandler

from app.contracts.worldservice_client import WorldServiceCapabilities

__all__ = ["capabilities_route"]


def capabilities_route(answer: WorldServiceCapabilities) -> HTTPRouteHandler:
    """Build the ``GET /worldservice/capabilities`` handler answering ``answer``."""

    @get(
        "/capabilities",
        sync_to_thread=False,
        summary="Schema versions this WorldService serves",
        description=(
            "`max_schema_version` is 3 when `worldservice.server.compat_rebalance_v3` is on "
            "(`compat_rebalance_v3: true` is then sent too), 2 when only "
            "`compat_rebalance_v2` is, else 1; `alpha_metrics_required` means requests must "
            "ask for schema_version >= 2. "
            "Gateways read this to report version mismatches in `/health`."
        ),
        tags=["worldservice"],
        # Public: what this WorldService serves is no secret, and a worldservice-only
        # process has no /ready, so probes and Gateways read this without a key.
        opt={"public": True},
    )
    def get_capabilities() -> WorldServiceCapabilities:
        """Answer ``GET /worldservice/capabilities``."""
        return answer

    return get_capabilities
