"""Gateway trading-state routes (SPEC §13): ``/risk/state``, ``/risk/worlds/{id}``, history,
limits."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, put
from litestar.di import NamedDependency, Provide
from litestar.enums import MediaType
from litestar.params import FromPath, FromQuery, HeaderParameter, QueryParameter
from litestar.status_codes import HTTP_200_OK

from app.contracts.ids import check_id
from app.contracts.risk import (
    RiskHistoryReply,
    RiskLimitsView,
    RiskScope,
    RiskStateReply,
    RiskStateUpdate,
    TradingStateRecord,
)
from app.errors import ValidationFailedError
from app.gateway.health import GatewayHealth
from app.gateway.trading_states import TradingStates
from app.web.audit import note
from app.web.decoding import decode_body, json_body
from app.web.etags import quoted
from app.web.openapi_examples import RISK_STATE_BODY
from app.web.pages import next_cursor, page_start

__all__ = ["RISK_HANDLERS", "check_world_id"]

_RISK = {"scope": "risk"}
_encoder = msgspec.json.Encoder()
IfMatch = Annotated[str | None, HeaderParameter(name="If-Match", required=False)]


def check_world_id(world_id: str) -> str:
    """Refuse a world id that breaks the identifier rule (``app.contracts.ids``: 1 to 256
    characters, no control characters) with a 422 naming the parameter."""
    return check_id(world_id, "$.world_id")


def _state_body(
    data: Annotated[RiskStateUpdate, RISK_STATE_BODY],
) -> None:  # pragma: no cover - never called
    """Documents the state body in OpenAPI; the handlers decode the raw body themselves."""


def _answer(record: TradingStateRecord) -> Response[bytes]:
    return Response(
        content=_encoder.encode(record.scoped_view()),
        media_type=MediaType.JSON,
        status_code=HTTP_200_OK,
        headers={"ETag": quoted(record.etag)},
    )


_BODY = {"state_body": Provide(_state_body, sync_to_thread=False)}
_PUT_DOC = (
    "Body `{state: ACTIVE|REDUCING|HALTED, reason}`. Needs an API key with the scope "
    "`risk` (once any key exists); the actor recorded is the key's `id (name)`. With "
    "`If-Match: <etag>` the change is made only if the state is still at that etag (412 "
    "`E_PRECONDITION_FAILED` with the current state otherwise). Writes the change, a history "
    "row and a `risk_state_changed` event (topic `risk`) in one transaction."
)


@get(
    "/risk/state",
    summary="Trading states: global and every world ever set",
    tags=["risk"],
)
async def get_risk_state(trading_states: NamedDependency[TradingStates]) -> RiskStateReply:
    """Answer ``GET /risk/state``."""
    return await trading_states.snapshot()


@get(
    "/risk/worlds/{world_id:str}",
    summary="The trading state of one world (ACTIVE with a stable etag when never set)",
    tags=["risk"],
)
async def get_world_state(
    world_id: FromPath[str], trading_states: NamedDependency[TradingStates]
) -> Response[bytes]:
    """Answer ``GET /risk/worlds/{world_id}``."""
    return _answer(await trading_states.get(check_world_id(world_id)))


@put(
    "/risk/state",
    summary="Set the global trading state",
    description=_PUT_DOC,
    tags=["risk"],
    opt=_RISK,
    dependencies=_BODY,
)
async def put_global_state(
    request: Request[Any, Any, Any],
    trading_states: NamedDependency[TradingStates],
    actor: NamedDependency[str],
    if_match: IfMatch = None,
) -> Response[bytes]:
    """Answer ``PUT /risk/state``."""
    update = decode_body(await json_body(request), RiskStateUpdate)
    note(request, reason=update.reason)
    return _answer(await trading_states.change(None, update, actor=actor, expected=if_match))


@put(
    "/risk/worlds/{world_id:str}",
    summary="Set the trading state of one world",
    description=_PUT_DOC,
    tags=["risk"],
    opt=_RISK,
    dependencies=_BODY,
)
async def put_world_state(
    request: Request[Any, Any, Any],
    world_id: FromPath[str],
    trading_states: NamedDependency[TradingStates],
    actor: NamedDependency[str],
    if_match: IfMatch = None,
) -> Response[bytes]:
    """Answer ``PUT /risk/worlds/{world_id}``."""
    world = check_world_id(world_id)
    update = decode_body(await json_body(request), RiskStateUpdate)
    note(request, reason=update.reason, world_id=world)
    return _answer(await trading_states.change(world, update, actor=actor, expected=if_match))


RISK_HISTORY = "risk_history"
"""The cursor kind of the trading-state history."""


@get(
    "/risk/history",
    summary="Trading-state changes, newest first",
    description=(
        "Every change ever made, with its reason and actor. Filter with `scope=global` or "
        "`world_id=W`; page back with `cursor=<next>` (or `before=<next_before>`)."
    ),
    tags=["risk"],
)
async def get_risk_history(
    trading_states: NamedDependency[TradingStates],
    scope_name: Annotated[str | None, QueryParameter(name="scope")] = None,
    world_id: FromQuery[str | None] = None,
    limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
    # History sequence numbers are 64-bit in every store: larger cursors cannot exist.
    before: Annotated[int | None, QueryParameter(ge=1, le=2**63 - 1)] = None,
    cursor: FromQuery[str | None] = None,
) -> RiskHistoryReply:
    """Answer ``GET /risk/history``."""
    after = page_start(RISK_HISTORY, cursor)
    if after is not None:
        before = after
    scope = scope_name
    chosen: RiskScope | None
    if world_id is not None:
        check_world_id(world_id)
        if scope not in (None, "world"):
            raise ValidationFailedError(
                "world_id names a world: leave scope out or set it to `world`.",
                errors=[{"path": "$.scope", "message": "must be `world` with world_id"}],
            )
        chosen = "world"
    elif scope in ("global", "world"):
        chosen = "global" if scope == "global" else "world"
    elif scope is None:
        chosen = None
    else:
        raise ValidationFailedError(
            "scope must be `global` or `world`.",
            errors=[{"path": "$.scope", "message": "must be `global` or `world`"}],
        )
    reply = await trading_states.history(chosen, world_id, limit, before)
    return msgspec.structs.replace(reply, next=next_cursor(RISK_HISTORY, reply.next_before))


@get(
    "/risk/limits",
    summary="The pre-trade risk limits in force (gateway.risk)",
    tags=["risk"],
)
async def get_risk_limits(gateway_health: NamedDependency[GatewayHealth]) -> RiskLimitsView:
    """Answer ``GET /risk/limits``."""
    return gateway_health.risk_limits()


RISK_HANDLERS = [
    get_risk_state,
    get_world_state,
    put_global_state,
    put_world_state,
    get_risk_history,
    get_risk_limits,
]
