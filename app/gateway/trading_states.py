"""Trading-state use cases (SPEC §13): read, change (with ``If-Match``), history."""

from __future__ import annotations

import time
from collections.abc import Callable

import msgspec
import structlog

from app.contracts.events import (
    EVENT_SOURCE_GATEWAY,
    RISK_STATE_CHANGED,
    RiskStatePayload,
    new_event,
)
from app.contracts.risk import (
    GLOBAL_SCOPE,
    RiskHistoryReply,
    RiskScope,
    RiskStateChange,
    RiskStateReply,
    RiskStateUpdate,
    TradingStateRecord,
    iso_time,
    state_etag,
)
from app.errors import Code, PreconditionFailedError
from app.store.ports import RiskStateStore, StateDecision
from app.web.etags import if_match

__all__ = ["TradingStates"]

log = structlog.get_logger(__name__)


class TradingStates:
    """Reads and changes the global and per-world trading states.

    Args:
        store: where states, their history and their events are written together.
        nudge: wakes the outbox publisher after a change (optional).
        clock: the wall clock in seconds.
    """

    def __init__(
        self,
        store: RiskStateStore,
        nudge: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.nudge = nudge
        self.clock = clock

    async def snapshot(self) -> RiskStateReply:
        """Answer ``GET /risk/state``: the global state and every world ever set."""
        states = await self.store.get_risk_states()
        return RiskStateReply(
            global_=states.global_state.view(),
            worlds={w: r.view() for w, r in sorted(states.worlds.items())},
        )

    async def get(self, world_id: str | None) -> TradingStateRecord:
        """The state of one world (``None``: the global state); the default when never
        set."""
        states = await self.store.get_risk_states([] if world_id is None else [world_id])
        return states.global_state if world_id is None else states.of(world_id)

    async def change(
        self,
        world_id: str | None,
        update: RiskStateUpdate,
        *,
        actor: str,
        expected: str | None,
    ) -> TradingStateRecord:
        """Set one state, recording the reason and the actor, and announce it.

        Args:
            world_id: the world, or None for the global state.
            update: the new state and why.
            actor: who asks (never a secret; see ``app.web.auth.actor_of``).
            expected: the ``If-Match`` header (None = unconditional).

        Returns:
            The new record.

        Raises:
            PreconditionFailedError: ``expected`` does not name the current etag (412,
                with the current state in ``current``); nothing is written.
        """
        scope: RiskScope = GLOBAL_SCOPE if world_id is None else "world"
        key = world_id or ""
        now = self.clock()

        def decide(current: TradingStateRecord) -> StateDecision:
            if expected is not None and not if_match(expected, current.etag):
                where = "the global trading state" if world_id is None else (
                    f"the trading state of world {world_id!r}"
                )
                raise PreconditionFailedError(
                    f"If-Match does not name the current etag of {where}; read it again.",
                    code=Code.PRECONDITION_FAILED,
                    extra={"current": msgspec.to_builtins(current.scoped_view())},
                )
            version = current.version + 1
            # A clock that went back must not reuse an etag: time only moves forward here.
            at = max(now, current.updated_at)
            record = TradingStateRecord(
                scope=scope,
                world_id=key,
                state=update.state,
                reason=update.reason,
                actor=actor,
                updated_at=at,
                version=version,
                etag=state_etag(scope, key, version, update.state, at),
            )
            payload = RiskStatePayload(
                scope=scope,
                world_id=world_id,
                state=update.state,
                previous_state=current.state,
                reason=update.reason,
                actor=actor,
                updated_at=iso_time(at),
                etag=record.etag,
            )
            event = new_event(
                RISK_STATE_CHANGED, EVENT_SOURCE_GATEWAY, payload, subject=world_id
            )
            return StateDecision(record=record, event=event)

        record = await self.store.set_risk_state(scope, key, decide)
        log.warning(
            "risk_state_changed",
            scope=scope,
            world_id=world_id,
            state=record.state,
            reason=record.reason,
            actor=actor,
        )
        if self.nudge is not None:
            self.nudge()
        return record

    async def history(
        self, scope: RiskScope | None, world_id: str | None, limit: int, before: int | None
    ) -> RiskHistoryReply:
        """Answer ``GET /risk/history``: changes newest first, one page of ``limit``."""
        rows = await self.store.risk_history(scope, world_id, limit + 1, before)
        page = rows[:limit]
        return RiskHistoryReply(
            changes=[
                RiskStateChange(
                    seq=r.seq,
                    scope=r.scope,
                    world_id=r.world_id or None,
                    state=r.state,
                    previous_state=r.previous_state,
                    reason=r.reason,
                    actor=r.actor,
                    changed_at=iso_time(r.changed_at),
                    etag=r.etag,
                    event_id=r.event_id,
                )
                for r in page
            ],
            next_before=page[-1].seq if len(rows) > limit else None,
        )
