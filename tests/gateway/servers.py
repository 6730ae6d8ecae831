"""Real loopback servers for Gateway tests: the Worldgate app and a legacy WorldService."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anyio
import uvicorn
from litestar import Litestar, Response, get, post
from litestar.params import JSONBody

__all__ = ["LegacyWorldService", "free_port", "run_server"]


def free_port() -> int:
    """Return a loopback port nothing listens on (bound, read, released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def run_server(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port in a thread; yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="on", log_level="error", ws="none", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    try:
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("test server did not start")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(20)
        sock.close()


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
