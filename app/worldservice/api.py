"""WorldService HTTP controller, mounted at ``/worldservice``."""

from __future__ import annotations

import re
from typing import Any, TypeVar

import anyio.to_thread
import msgspec
from litestar import Request, Router, post
from litestar.di import NamedDependency, Provide
from litestar.status_codes import HTTP_200_OK

from app.container import Container
from app.contracts.rebalancing import PlanResponse, RebalanceRequest
from app.errors import AppError, ValidationFailedError
from app.web.errors import msgspec_error_item
from app.worldservice.api_capabilities import capabilities_route
from app.worldservice.planning import PlanningService

__all__ = ["INLINE_PLAN_POSITIONS", "decode_body", "plan_rebalance", "worldservice_router"]

_T = TypeVar("_T")
INLINE_PLAN_POSITIONS = 20_000
"""Plans with fewer positions run inline on the event loop, bigger ones in a worker thread."""
_DECODERS: dict[Any, msgspec.json.Decoder[Any]] = {}
_MISSING_FIELD = re.compile(r"missing required field `([^`]+)`")


def decode_body(body: bytes, type_: type[_T]) -> _T:
    """Decode a JSON request body straight into ``type_`` (one typed msgspec pass).

    Args:
        body: the raw request body.
        type_: the msgspec Struct to decode into (unknown fields are ignored).

    Returns:
        The decoded value.

    Raises:
        AppError: 400 ``E_MALFORMED_JSON`` when the body is empty or not JSON.
        ValidationFailedError: 422 when a field has the wrong type or is missing, naming
            its path.
    """
    decoder = _DECODERS.get(type_)
    if decoder is None:
        decoder = _DECODERS[type_] = msgspec.json.Decoder(type_)
    if not body.strip():
        raise AppError("The request body is empty; a JSON object is required.",
                       code="E_MALFORMED_JSON", status=400)
    try:
        return decoder.decode(body)  # type: ignore[no-any-return]
    except msgspec.ValidationError as exc:
        item = msgspec_error_item(str(exc))
        missing = _MISSING_FIELD.search(item["message"])
        if missing is not None:
            item["path"] = f"{item['path']}.{missing.group(1)}"
        raise ValidationFailedError(
            f"{item['message']} (at {item['path']})", errors=[item]
        ) from exc
    except msgspec.DecodeError as exc:
        raise AppError(f"The request body is not valid JSON ({exc}).",
                       code="E_MALFORMED_JSON", status=400) from exc


def _openapi_body(data: RebalanceRequest) -> None:  # pragma: no cover - never called
    """Documents the plan body in OpenAPI; the handler decodes the raw body itself."""


@post(
    "/rebalancing/plan",
    status_code=HTTP_200_OK,
    summary="Plan a multi-world rebalance",
    description=(
        "Computes per-world deltas, netted global deltas and (overlay/hybrid) overlay deltas. "
        "The answer is schema v1 or v2 as negotiated from `schema_version` and the server's "
        "`compat_rebalance_v2` switch; v1 answers never carry v2 fields."
    ),
    tags=["worldservice"],
    # Litestar documents a `data` parameter of a handler dependency as the request body; the
    # handler itself reads raw bytes so the body is decoded once, typed, by msgspec.
    dependencies={"plan_body": Provide(_openapi_body, sync_to_thread=False)},
)
async def plan_rebalance(
    request: Request[Any, Any, Any], planning: NamedDependency[PlanningService]
) -> PlanResponse:
    """Answer ``POST /worldservice/rebalancing/plan``.

    Planning is pure CPU work. Ordinary requests are planned inline on the event loop (a
    10k-position plan takes about 10 ms of CPU, less than it could wait for a worker
    thread); bigger ones go to a worker thread so the loop keeps serving other requests
    in between (the GIL still shares one core between them).
    """
    req = decode_body(await request.body(), RebalanceRequest)
    if len(req.positions) < INLINE_PLAN_POSITIONS:
        return planning.plan(req)
    return await anyio.to_thread.run_sync(planning.plan, req)


def worldservice_router(container: Container) -> Router:
    """Build the ``/worldservice`` router."""
    from app.worldservice.api_records import records_router  # it imports decode_body from here

    return Router(
        path="/worldservice",
        route_handlers=[plan_rebalance, records_router(container), capabilities_route(container)],
        dependencies={"planning": Provide(lambda: container.planning(), sync_to_thread=False)},
    )
