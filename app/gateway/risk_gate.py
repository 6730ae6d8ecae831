"""The risk gate: the pure checks of ``risk.py`` fed with stored states and rate tokens."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import msgspec

from app.contracts.risk import RiskStates
from app.errors import AppError, Code
from app.gateway.orders import OrderBatch
from app.gateway.risk import RiskBasis, RiskLimits, RiskOutcome, RiskSpec, check_orders
from app.store.ports import RiskStateStore

__all__ = ["JudgeMode", "RiskGate", "refused", "risk_rejected"]

JudgeMode = Literal["preview", "submit", "exact"]
"""``preview``: peek at the rate tokens; ``submit``: take them; ``exact``: take them only
if the orders come out exactly as expected (a preview being submitted)."""


def refused(outcome: RiskOutcome, all_or_nothing: bool) -> bool:
    """Whether a submit must be refused: every order denied, or any denial when the
    execution is all-or-nothing."""
    return outcome.status == "rejected" or (all_or_nothing and bool(outcome.denied))


def risk_rejected(outcome: RiskOutcome, all_or_nothing: bool) -> AppError:
    """The 422 ``E_RISK_REJECTED`` answer for a refused submit, listing the denials."""
    why = "every order was denied" if outcome.status == "rejected" else (
        f"{len(outcome.denied)} order(s) were denied and all_or_nothing is set"
    )
    return AppError(
        f"The pre-trade risk checks refused the execution: {why}; nothing was recorded.",
        code=Code.RISK_REJECTED,
        status=422,
        extra={
            "execution_status": outcome.status,
            "all_or_nothing": all_or_nothing,
            "denied": msgspec.to_builtins(outcome.denied),
            "risk_states": msgspec.to_builtins(outcome.checked),
        },
    )


class RiskGate:
    """Judges a ``RiskBasis`` against the stored trading states and the rate buckets.

    Args:
        spec: ``gateway.risk``.
        store: where trading states and rate buckets live (shared by every Gateway).
    """

    def __init__(self, spec: RiskSpec, store: RiskStateStore) -> None:
        self.limits = RiskLimits.of(spec)
        self.rate = spec.order_rate_per_minute
        self.store = store

    async def states(self, basis: RiskBasis) -> RiskStates:
        """The current states of the global scope and every world ``basis`` touches."""
        worlds = dict.fromkeys(basis.worlds)
        if basis.scope != "global":  # the shared-account batch is not a world
            worlds.update(dict.fromkeys(b.world_id for b in basis.batches))
        return await self.store.get_risk_states(list(worlds))

    async def judge(
        self,
        basis: RiskBasis,
        mode: JudgeMode,
        expected: Sequence[OrderBatch] | None = None,
    ) -> RiskOutcome:
        """Check ``basis`` against the current states (and the rate limit, if configured).

        With a rate limit the orders are judged against the tokens the buckets hold now
        (read, not taken). A ``preview`` stops there. A ``submit`` then takes the tokens of
        the orders that passed (all or nothing when the execution is); an ``exact`` submit
        (of a preview) takes them only when exactly the ``expected`` orders passed, all or
        nothing. When another Gateway took tokens in between, the orders are judged again
        against what was granted. A refused submit takes no token.
        """
        states = await self.states(basis)
        if self.rate is None:
            return check_orders(basis, states, self.limits)
        worlds = sorted({b.world_id for b in basis.batches})
        peeked = await self.store.peek_order_tokens(worlds, self.rate)
        outcome = check_orders(basis, states, self.limits, peeked)
        if mode == "preview":
            return outcome
        if mode == "exact" and (expected is None or outcome.batches != list(expected)):
            return outcome
        if mode == "submit" and refused(outcome, basis.all_or_nothing):
            return outcome
        counts = outcome.counts()
        whole = mode == "exact" or basis.all_or_nothing
        granted = await self.store.take_order_tokens(counts, self.rate, all_or_nothing=whole)
        if all(granted.get(w, 0) >= n for w, n in counts.items()):
            return outcome
        return check_orders(basis, states, self.limits, granted)
