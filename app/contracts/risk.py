"""Pre-trade risk wire types: trading states, their history, denials, limits."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Annotated, Final, Literal, get_args

import msgspec

__all__ = [
    "DENIAL_CODES",
    "GLOBAL_SCOPE",
    "TRADING_STATES",
    "CheckedState",
    "CheckedStates",
    "DenialCode",
    "DeniedOrder",
    "ExecutionStatus",
    "RestrictedView",
    "RiskHistoryReply",
    "RiskLimitsSummary",
    "RiskLimitsView",
    "RiskScope",
    "RiskStateChange",
    "RiskStateReply",
    "RiskStateUpdate",
    "RiskStates",
    "ScopedStateView",
    "TradingState",
    "TradingStateRecord",
    "TradingStateView",
    "default_state",
    "iso_time",
    "state_etag",
    "stricter",
]

TradingState = Literal["ACTIVE", "REDUCING", "HALTED"]
TRADING_STATES: Final[tuple[TradingState, ...]] = ("ACTIVE", "REDUCING", "HALTED")
_RANK: Final[dict[str, int]] = {state: rank for rank, state in enumerate(TRADING_STATES)}
RiskScope = Literal["global", "world"]
GLOBAL_SCOPE: Final = "global"
DenialCode = Literal[
    "GLOBAL_HALTED",
    "WORLD_HALTED",
    "REDUCING_ONLY",
    "RESTRICTED_BUY",
    "RESTRICTED_SELL",
    "MAX_ORDER_NOTIONAL",
    "MAX_WORLD_GROSS",
    "MAX_ORDERS",
    "RATE_LIMITED",
]
DENIAL_CODES: Final[tuple[str, ...]] = get_args(DenialCode)
ExecutionStatus = Literal["completed", "completed_adjusted", "rejected"]
_REASON_TEXT = "^[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f]*$"
Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=1000, pattern=_REASON_TEXT)]
"""Why a state changed: free text, but no control characters other than tab and line
breaks (PostgreSQL cannot store a NUL, so every backend refuses the same text)."""


def iso_time(epoch: float) -> str:
    """An epoch time in seconds as an ISO-8601 UTC string."""
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def state_etag(scope: str, world_id: str, version: int, state: str, updated_at: float) -> str:
    """The etag of one trading state: a digest of what identifies this version of it."""
    raw = f"{scope}\x1f{world_id}\x1f{version}\x1f{state}\x1f{updated_at!r}".encode()
    return hashlib.sha256(raw).hexdigest()[:24]


def stricter(a: TradingState, b: TradingState) -> TradingState:
    """The stricter of two states (HALTED > REDUCING > ACTIVE)."""
    return a if _RANK[a] >= _RANK[b] else b


class TradingStateRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One stored trading state. ``world_id`` is ``""`` for the global state; ``version``
    counts its changes (0: never set, the default ``ACTIVE``)."""

    scope: RiskScope
    world_id: str = ""
    state: TradingState = "ACTIVE"
    reason: str | None = None
    actor: str | None = None
    updated_at: float = 0.0
    version: int = 0
    etag: str = ""

    def view(self) -> TradingStateView:
        """The record as the API shows it."""
        return TradingStateView(
            state=self.state,
            reason=self.reason,
            actor=self.actor,
            updated_at=iso_time(self.updated_at) if self.version else None,
            etag=self.etag,
        )

    def scoped_view(self) -> ScopedStateView:
        """The record with its scope, as a single-state answer shows it."""
        return ScopedStateView(
            scope=self.scope,
            world_id=self.world_id or None,
            state=self.state,
            reason=self.reason,
            actor=self.actor,
            updated_at=iso_time(self.updated_at) if self.version else None,
            etag=self.etag,
        )


def default_state(scope: RiskScope, world_id: str = "") -> TradingStateRecord:
    """The state of a scope that was never set: ``ACTIVE``, version 0, a stable etag."""
    return TradingStateRecord(
        scope=scope, world_id=world_id, etag=state_etag(scope, world_id, 0, "ACTIVE", 0.0)
    )


class RiskStates(msgspec.Struct, frozen=True, kw_only=True):
    """A snapshot of the global state and every world state that was ever set."""

    global_state: TradingStateRecord
    worlds: dict[str, TradingStateRecord]

    def of(self, world_id: str) -> TradingStateRecord:
        """The state of ``world_id`` (the default ``ACTIVE`` when never set)."""
        found = self.worlds.get(world_id)
        return found if found is not None else default_state("world", world_id)


class TradingStateView(msgspec.Struct, frozen=True, kw_only=True):
    """One trading state on the wire (``updated_at`` is null while never set)."""

    state: TradingState
    reason: str | None
    actor: str | None
    updated_at: str | None
    etag: str


class ScopedStateView(TradingStateView, frozen=True, kw_only=True):
    """One trading state with its scope: the answer of ``PUT /risk/...``."""

    scope: RiskScope
    world_id: str | None


class RiskStateReply(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /risk/state``: the global state and every world state that was ever set."""

    global_: TradingStateView = msgspec.field(name="global")
    worlds: dict[str, TradingStateView]


class RiskStateUpdate(msgspec.Struct, frozen=True, kw_only=True):
    """``PUT /risk/state`` and ``PUT /risk/worlds/{world_id}`` body."""

    state: TradingState
    reason: Reason


class RiskStateChange(msgspec.Struct, frozen=True, kw_only=True):
    """One change in the trading-state history (``seq`` orders all changes)."""

    seq: int
    scope: RiskScope
    world_id: str | None
    state: TradingState
    previous_state: TradingState
    reason: str
    actor: str
    changed_at: str
    etag: str
    event_id: str


class RiskHistoryReply(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /risk/history``: changes newest first; ``next`` (an opaque cursor, as on every
    list route) or ``next_before`` (the ``seq`` to pass as ``before``) pages further back."""

    changes: list[RiskStateChange]
    next_before: int | None
    next: str | None = None


class DeniedOrder(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """An order the risk checks took out of its batch, and why."""

    world_id: str
    symbol: str
    venue: str | None
    quantity: float
    code: DenialCode
    detail: str
    strategy_id: str | None = None


class CheckedState(msgspec.Struct, frozen=True, kw_only=True):
    """A trading state an execution was checked against."""

    state: TradingState
    etag: str


class CheckedStates(msgspec.Struct, frozen=True, kw_only=True):
    """The states an execution was checked against: global and each world it touches."""

    global_: CheckedState = msgspec.field(name="global")
    worlds: dict[str, CheckedState]


class RestrictedView(msgspec.Struct, frozen=True, kw_only=True):
    """Restricted symbols: global lists and per-world lists."""

    do_not_buy: list[str]
    do_not_sell: list[str]
    by_world: dict[str, dict[str, list[str]]]


class RiskLimitsView(msgspec.Struct, frozen=True, kw_only=True):
    """``GET /risk/limits``: the limits in force (null = no limit)."""

    max_order_notional: float | None
    max_world_gross_notional: float | None
    max_orders_per_execution: int | None
    order_rate_per_minute: float | None
    preview_ttl_seconds: float
    restricted: RestrictedView


class RiskLimitsSummary(msgspec.Struct, frozen=True, kw_only=True):
    """The limits in ``GET /health``: the figures, and how many symbols are restricted."""

    max_order_notional: float | None
    max_world_gross_notional: float | None
    max_orders_per_execution: int | None
    order_rate_per_minute: float | None
    preview_ttl_seconds: float
    restricted_symbols: int
    restricted_worlds: int
