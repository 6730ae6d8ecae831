"""The console's way to the public API: the SDK's calls over HTTP, with the browser's token.

The console imports no service code. Its server side calls the same HTTP API any client
calls, forwarding the ``Authorization`` header the browser sent (the token typed into the
console), so every permission the API enforces applies to the console exactly as to curl.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import httpx
from litestar import Request

from app.sdk import calls
from app.sdk.calls import Call
from app.sdk.errors import Unreachable

__all__ = ["ApiTarget", "ConsoleClient", "api_base"]

T = TypeVar("T")
_USER_AGENT = "worldgate-console"


def api_base(request: Request[Any, Any, Any], configured: str | None) -> str:
    """Where the console calls the API: ``console.api_url``, else the address this request
    arrived on (the server's own listening socket, reachable from the server itself)."""
    if configured:
        return configured.rstrip("/")
    server = request.scope.get("server")
    if server and server[0] is not None:
        host, port = server[0], server[1]
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}" if port else f"http://{host}"
    return str(request.base_url).rstrip("/")


class ApiTarget:
    """The configured API addresses (``console.api_url``, ``gateway.worldservice_url``).

    Args:
        api_url: the Gateway root the console calls; None = the request's own address.
        worldservice_url: the WorldService root; None = ``<api>/worldservice``.
    """

    def __init__(self, api_url: str | None, worldservice_url: str | None) -> None:
        self.api_url = api_url
        self.worldservice_url = worldservice_url

    def client(self, request: Request[Any, Any, Any]) -> ConsoleClient:
        """A client for one console request, carrying its ``Authorization`` header."""
        base = api_base(request, self.api_url)
        return ConsoleClient(base, request.headers.get("authorization"),
                             calls.worldservice_base(base, self.worldservice_url))


class ConsoleClient:
    """One console request's calls to the API (an httpx client, closed with ``async with``).

    Args:
        base_url: the Gateway root.
        authorization: the browser's ``Authorization`` header, forwarded as it is.
        worldservice_url: the WorldService root.
    """

    def __init__(self, base_url: str, authorization: str | None, worldservice_url: str) -> None:
        self.base_url = base_url
        self.worldservice_url = worldservice_url
        self.authorization = authorization
        headers = {"user-agent": _USER_AGENT}
        if authorization:
            headers["authorization"] = authorization
        self._http = httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30.0)

    @property
    def token(self) -> str | None:
        """The bearer token the browser sent, if any."""
        scheme, _, value = (self.authorization or "").partition(" ")
        return value.strip() or None if scheme.lower() == "bearer" else None

    async def __aenter__(self) -> ConsoleClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._http.aclose()

    async def run(self, call: Call[T]) -> T:
        """Send one SDK call; raises the SDK's typed errors (``WorldgateError``, ...)."""
        try:
            response = await self._http.request(call.method, call.url, content=call.content,
                                                headers=call.headers, params=call.params)
        except httpx.TransportError as exc:
            raise Unreachable(self.base_url, str(exc) or type(exc).__name__) from exc
        return call.finish(response)

    async def get(self, url: str, params: Mapping[str, str] | None = None) -> Any:
        """``GET`` a JSON answer (a path below the Gateway root, or an absolute URL)."""
        return await self.run(Call("GET", url, _raw, params=dict(params or {}) or None))


def _raw(body: Any) -> Any:
    return body
