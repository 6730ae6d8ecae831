"""Stub WorldServices for Gateway tests (a legacy one that serves v1 only, or v1 and v2; a
QMTL-shaped one); serve them with ``serve_in_thread``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import msgspec
from litestar import Litestar, Response, get, post
from litestar.params import FromQuery, JSONBody

__all__ = ["QMTL_SAMPLES", "LegacyWorldService", "QmtlWorldService", "qmtl_sample"]

QMTL_SAMPLES = Path(__file__).parent / "qmtl_samples"


def qmtl_sample(name: str) -> bytes:
    """The bytes of the recorded QMTL-shaped sample ``name`` (without ``.json``)."""
    return (QMTL_SAMPLES / f"{name}.json").read_bytes()


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


class QmtlWorldService:
    """A WorldService that answers like a QMTL one: recorded QMTL-shaped samples.

    ``plan`` is the body every plan and apply gets (the bytes of a sample, or anything a
    test wants to send: a body that is not a plan); ``allocations`` the snapshot
    ``GET /worldservice/allocations`` answers, narrowed to ``?world_id=`` as QMTL does (an
    unknown world gives an empty map, not a 404). It has no ``/capabilities`` (QMTL has
    none) and records every plan body and allocations query.
    """

    def __init__(self) -> None:
        self.plan: bytes = qmtl_sample("plan_v1_untagged")
        self.allocations: bytes = qmtl_sample("allocations_snapshot")
        self.bodies: list[dict[str, Any]] = []
        self.queries: list[str | None] = []

    def app(self) -> Litestar:
        """Build the Litestar app."""

        def answer(data: dict[str, Any]) -> Response[bytes]:
            self.bodies.append(data)
            return Response(content=self.plan, media_type="application/json")

        @post("/worldservice/rebalancing/plan")
        async def plan(data: JSONBody[dict[str, Any]]) -> Response[bytes]:
            return answer(data)

        @post("/worldservice/rebalancing/apply")
        async def apply(data: JSONBody[dict[str, Any]]) -> Response[bytes]:
            return answer(data)

        @get("/worldservice/allocations")
        async def allocations(world_id: FromQuery[str | None] = None) -> Response[bytes]:
            self.queries.append(world_id)
            if world_id is None:
                return Response(content=self.allocations, media_type="application/json")
            body = msgspec.json.decode(self.allocations)
            narrowed = {k: v for k, v in body["allocations"].items() if k == world_id}
            return Response(
                content=msgspec.json.encode({"allocations": narrowed}),
                media_type="application/json",
            )

        @get("/health")
        async def health() -> dict[str, str]:
            return {"status": "ok"}

        return Litestar(route_handlers=[plan, apply, allocations, health])
