"""A legacy WorldService (schema v1 only) for Gateway tests; serve it with ``serve_in_thread``."""

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


class LegacyWorldService:
    """A WorldService that only knows schema v1 (as QMTL's before v2) and records bodies.

    It refuses any ``schema_version`` above 1 with ``status`` and has no capabilities
    endpoint; ``mode="slow"`` answers after ``delay`` seconds; ``mode="crash"`` answers 500.
    """

    def __init__(self, status: int = 422, mode: str = "normal", delay: float = 2.0) -> None:
        self.status = status
        self.mode = mode
        self.delay = delay
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
            if isinstance(version, int) and version > 1:
                body = {
                    "status": self.status,
                    "code": "E_LEGACY_VERSION",
                    "detail": f"unsupported schema_version {version}",
                    "errors": [{"path": "$.schema_version", "message": "must be 1"}],
                }
                return Response(content=body, status_code=self.status)
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
