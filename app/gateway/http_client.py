"""The HTTP adapter of the WorldService client port (httpx, timeouts and retries)."""

from __future__ import annotations

from typing import Final

import anyio
import httpx
import msgspec
import structlog

from app.contracts.allocations import AllocationsReadError, AllocationsReply, read_allocations
from app.contracts.plan_reading import PlanReadError, read_plan_bytes
from app.contracts.rebalancing import ApplyRequest, RebalanceRequest
from app.contracts.worldservice_client import WorldServiceCapabilities, WorldServiceReply
from app.errors import AppError, Code
from app.runtime.lifecycle import Component

__all__ = ["HttpWorldServiceClient", "worldservice_unavailable"]

log = structlog.get_logger(__name__)

UNAVAILABLE: Final = Code.WORLDSERVICE_UNAVAILABLE
_PASS_THROUGH_5XX: Final = frozenset({501, 503, 504})
_capabilities = msgspec.json.Decoder(WorldServiceCapabilities)
_encoder = msgspec.json.Encoder()


def _bad_answer(what: str, exc: Exception) -> AppError:
    log.warning("worldservice_bad_answer", what=what, error=str(exc))
    return AppError(
        f"WorldService sent {what} the Gateway cannot read: {exc}",
        code=Code.WORLDSERVICE_BAD_RESPONSE,
        status=502,
    )


def _reply(response: httpx.Response, *, replayed: bool = False) -> WorldServiceReply:
    """Read a plan answer leniently (a QMTL WorldService's plans too).

    The reply's ``content`` is the normalised plan encoded (the QMTL defaults filled in,
    unknown fields left out), not the peer's bytes: that is what the Gateway answers.
    """
    try:
        plan = read_plan_bytes(response.content)
    except PlanReadError as exc:
        raise _bad_answer("an answer", exc) from exc
    return WorldServiceReply(plan=plan, content=_encoder.encode(plan), replayed=replayed)


def worldservice_unavailable(detail: str, *, timed_out: bool) -> AppError:
    """Return the error for a transport failure: 504 after a timeout, else 503."""
    return AppError(detail, code=UNAVAILABLE, status=504 if timed_out else 503)


def _error_from(response: httpx.Response) -> AppError:
    """Rebuild WorldService's SPEC §10 error (4xx and deliberate 5xx pass through)."""
    status = response.status_code
    try:
        body = msgspec.json.decode(response.content)
    except msgspec.DecodeError:
        body = None
    if not isinstance(body, dict):
        body = {}
    if status >= 500 and status not in _PASS_THROUGH_5XX:
        return AppError(f"WorldService failed with HTTP {status}.", code=UNAVAILABLE, status=503)
    detail = body.get("detail")
    errors = body.get("errors")
    code = body.get("code")
    extra = {k: v for k, v in body.items() if k not in ("status", "code", "detail", "errors")}
    return AppError(
        detail if isinstance(detail, str) else f"WorldService answered HTTP {status}.",
        code=code if isinstance(code, str) else f"E_HTTP_{status}",
        status=status,
        errors=errors if isinstance(errors, list) else None,
        extra=extra,
    )


class HttpWorldServiceClient(Component):
    """Reaches a WorldService over HTTP.

    Transport failures are retried ``retries`` times with a short backoff: a failed connect
    always (nothing was sent), a timeout only for calls that do not write (plan,
    capabilities). A component: ``close()`` closes the connection pool.

    Args:
        base_url: WorldService's base URL, e.g. ``http://127.0.0.1:8001/worldservice``.
        timeout: seconds per call.
        retries: extra attempts after a transport failure.
        transport: an httpx transport to use instead of the network one (tests, benchmarks).
        token: a bearer token sent on every call (WorldService's ``security.api_tokens``
            protect its mutating routes); None sends no ``Authorization`` header.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float,
        retries: int,
        transport: httpx.AsyncBaseTransport | None = None,
        token: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        headers = {"content-type": "application/json"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        self._client = httpx.AsyncClient(
            base_url=self.base_url + "/",
            timeout=httpx.Timeout(timeout),
            transport=transport,
            headers=headers,
        )

    async def close(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    async def _send(
        self,
        method: str,
        path: str,
        body: RebalanceRequest | None,
        *,
        writes: bool,
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        content = _encoder.encode(body) if body is not None else None
        attempt = 0
        while True:
            try:
                response = await self._client.request(
                    method, path, content=content, params=params
                )
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                failure: httpx.TransportError = exc
                timed_out = isinstance(exc, httpx.ConnectTimeout)
            except httpx.TimeoutException as exc:
                if writes:
                    raise worldservice_unavailable(
                        f"WorldService did not answer in time ({path}).", timed_out=True
                    ) from exc
                failure, timed_out = exc, True
            except httpx.TransportError as exc:
                raise worldservice_unavailable(
                    f"WorldService connection failed ({path}): {exc}", timed_out=False
                ) from exc
            else:
                if response.status_code >= 400:
                    raise _error_from(response)
                return response
            if attempt >= self.retries:
                log.warning("worldservice_unreachable", path=path, error=str(failure))
                raise worldservice_unavailable(
                    f"WorldService is unreachable ({path}): {type(failure).__name__}",
                    timed_out=timed_out,
                ) from failure
            attempt += 1
            await anyio.sleep(0.05 * 2 ** (attempt - 1))

    async def plan(self, request: RebalanceRequest) -> WorldServiceReply:
        """``POST {base}/rebalancing/plan``."""
        return _reply(await self._send("POST", "rebalancing/plan", request, writes=False))

    async def apply(self, request: ApplyRequest) -> WorldServiceReply:
        """``POST {base}/rebalancing/apply``."""
        response = await self._send("POST", "rebalancing/apply", request, writes=True)
        replayed = response.headers.get("x-idempotent-replay", "").lower() == "true"
        return _reply(response, replayed=replayed)

    async def allocations(
        self, world_id: str | None = None, *, limit: int | None = None,
        cursor: str | None = None,
    ) -> AllocationsReply:
        """``GET {base}/allocations[?world_id=][&limit=&cursor=]``, read leniently (QMTL
        snapshots too; their ``next``, when they page, is passed on)."""
        query = {"world_id": world_id, "limit": None if limit is None else str(limit),
                 "cursor": cursor}
        params = {k: v for k, v in query.items() if v is not None} or None
        response = await self._send("GET", "allocations", None, writes=False, params=params)
        try:
            return read_allocations(response.content)
        except AllocationsReadError as exc:
            raise _bad_answer("allocations", exc) from exc

    async def capabilities(self) -> WorldServiceCapabilities:
        """``GET {base}/capabilities``."""
        response = await self._send("GET", "capabilities", None, writes=False)
        try:
            return _capabilities.decode(response.content)
        except msgspec.DecodeError as exc:
            raise _bad_answer("capabilities", exc) from exc

    async def ping(self) -> bool:
        """Return True when ``GET {base}/capabilities`` answers (a 404 too: a QMTL
        WorldService has no such route but is up)."""
        try:
            await self.capabilities()
        except AppError as exc:
            return exc.status == 404
        return True
