"""Schema v3 wire types: the rebalancing ``policy`` of a request and the answer's sections
that explain it (``skipped``, ``projection``, ``funding``)."""

from __future__ import annotations

from typing import Annotated, Final, Literal

import msgspec

__all__ = [
    "SKIP_CODES",
    "Band",
    "CashPolicy",
    "CostModel",
    "Costs",
    "Funding",
    "Projection",
    "ProjectionTotal",
    "RebalancePolicy",
    "SkipCode",
    "SkippedDelta",
    "WorldProjection",
]

NonNeg = Annotated[float, msgspec.Meta(ge=0)]
Positive = Annotated[float, msgspec.Meta(gt=0)]
Fraction = Annotated[float, msgspec.Meta(ge=0, lt=1)]

SkipCode = Literal[
    "WITHIN_BAND", "TURNOVER_CAPPED", "CASH_LIMITED", "BELOW_MIN_NOTIONAL", "BELOW_LOT"
]
SKIP_CODES: Final[tuple[SkipCode, ...]] = (
    "WITHIN_BAND", "TURNOVER_CAPPED", "CASH_LIMITED", "BELOW_MIN_NOTIONAL", "BELOW_LOT"
)
"""Why a delta was removed or shrunk, in the order the planner applies the rules."""


class _Wire(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Base of the policy structs: unknown fields ignored, unset fields left out."""


class Band(_Wire, frozen=True, kw_only=True):
    """No-trade band per (world, strategy): a 0 disables that test.

    Attributes:
        abs: skip a strategy whose allocation moves by at most this fraction of equity.
        rel: skip a strategy whose allocation moves by at most this share of itself.
    """

    abs: NonNeg = 0.0
    rel: NonNeg = 0.0


class CashPolicy(_Wire, frozen=True, kw_only=True):
    """Cash-aware funding of the buys.

    Attributes:
        available: cash on hand, in the currency of the notionals.
        buffer: share of total equity kept back, in [0, 1).
    """

    available: NonNeg
    buffer: Fraction = 0.0


class CostModel(_Wire, frozen=True, kw_only=True):
    """Cost of one delta: ``max(min_fee, |notional| · (fee_bps + slippage_bps) / 1e4)``."""

    fee_bps: NonNeg = 0.0
    slippage_bps: NonNeg = 0.0
    min_fee: NonNeg = 0.0


class Costs(_Wire, frozen=True, kw_only=True):
    """The cost model of each venue (``default`` for venues not listed and for none)."""

    default: CostModel = msgspec.field(default_factory=CostModel)
    by_venue: dict[str, CostModel] = msgspec.field(default_factory=dict)


class RebalancePolicy(_Wire, frozen=True, kw_only=True):
    """The ``policy`` of a schema v3 request; every part is optional and an empty policy
    changes nothing."""

    band: Band | None = None
    max_turnover: Positive | None = None
    cash: CashPolicy | None = None
    costs: Costs | None = None


class SkippedDelta(msgspec.Struct, frozen=True, omit_defaults=True, gc=False):
    """A delta (or the part of one) that will not trade, and why.

    ``venue`` is always present (null without one); ``strategy_id`` only for
    ``WITHIN_BAND``, which skips one strategy's share of a (venue, symbol).

    Not ``kw_only``: a plan may skip a million deltas, and positional construction (one
    ``map`` over the columns) is the cheapest way to build them.
    """

    world_id: str
    symbol: str
    venue: str | None
    delta_qty: float
    code: SkipCode
    detail: str
    strategy_id: str | None = None


class WorldProjection(msgspec.Struct, frozen=True, kw_only=True):
    """One world before and after the plan, as fractions of total equity."""

    weight_before: float
    weight_after: float
    target: float
    residual: float
    turnover_notional: float
    est_cost: float


class ProjectionTotal(msgspec.Struct, frozen=True, kw_only=True):
    """The whole plan's turnover and estimated cost."""

    turnover_notional: float
    turnover_weight: float
    est_cost: float
    est_cost_bps: float


class Projection(msgspec.Struct, frozen=True, kw_only=True):
    """Where the plan leaves each world and what it costs."""

    per_world: dict[str, WorldProjection]
    total: ProjectionTotal


class Funding(msgspec.Struct, frozen=True, kw_only=True):
    """How the buys were funded (present when the policy has ``cash``).

    ``buys`` is the buy notional before the cash limit, ``sells`` the notional of the sells
    that will trade, ``budget = available − buffer · total_equity + sells`` and every buy
    was scaled by ``buy_scale`` (1.0 when the budget covered them).
    """

    available: float
    buffer: float
    buys: float
    sells: float
    budget: float
    buy_scale: float
