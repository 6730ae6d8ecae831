"""Foreign WorldServices (schema v1 only, or v1 and v2) for Gateway tests; serve them with
``serve_in_thread``."""

from __future__ import annotations

from typing import Any

import anyio
from litestar import Litestar, Response, get, post
from litestar.params import JSONBody

__all__ = ["LegacyWorldService"]


_V1_PLAN = {
    "schema_version": 1,
    "per_world": {
        "a": {
            "world_id": "a",
            "scale_world": 0.5,
            "scale_by_strategy": {"s1": 0.5},
            "deltas": [{"symbol": "BTC", "delta_qty": -1.0}],
        }
    },
    "global_deltas": [{"symbol": "BTC", "delta_qty": -1.0}],
}
_V2_PLAN = {
    **_V1_PLAN,
    "schema_version": 2,
    "alpha_metrics": {"per_world": {}, "per_strategy": {}},
    "rebalance_intent": {"meta": {}},
}


class LegacyWorldService:
    """A WorldService that only knows schema v1 (as QMTL's before v2), or v1 and v2 with
    ``max_version=2`` (as QMTL's today: it ignores a ``policy``), and records bodies.

    It refuses any ``schema_version`` above ``max_version`` with ``status`` and has no
    capabilities endpoint; ``mode="slow"`` answers after ``delay`` seconds;
    ``mode="crash"`` answers 500.
    """

    def __init__(
        self, status: int = 422, mode: str = "normal", delay: float = 2.0, max_version: int = 1
    ) -> None:
        self.status = status
        self.mode = mode
        self.delay = delay
        self.max_version = max_version
        self.bodies: list[dict[str, Any]] = []

    def app(self) -> Litestar:
        """Build the Litestar app."""

        async def answer(data: JSONBody[dict[str, Any]]) -> Response[Any]:
            self.bodies.append(data)
            if self.mode == "slow":
                await anyio.sleep(self.delay)
            if self.mode == "crash":
                return Response(content="boom", status_code=500, media_type="text/plain")
            version = data.get("schema_version")
            if isinstance(version, int) and version > self.max_version:
                body = {
                    "status": self.status,
                    "code": "E_LEGACY_VERSION",
                    "detail": f"unsupported schema_version {version}",
                    "errors": [{"path": "$.schema_version",
                                "message": f"must be at most {self.max_version}"}],
                }
                return Response(content=body, status_code=self.status)
            if isinstance(version, int) and version >= 2:
                return Response(content=_V2_PLAN, status_code=200)
            return Response(content=_V1_PLAN, status_code=200)

        @post("/worldservice/rebalancing/plan")
        async def plan(data: JSONBody[dict[str, Any]]) -> Response[Any]:
            return await answer(data)

        @post("/worldservice/rebalancing/apply")
        async def apply(data: JSONBody[dict[str, Any]]) -> Response[Any]:
            return await answer(data)

        @get("/health")
        async def health() -> dict[str, str]:
            return {"status": "ok"}

        return Litestar(route_handlers=[plan, apply, health])
