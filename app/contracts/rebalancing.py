"""Rebalancing wire types: the request and the answers tagged by schema version (v1, v2, v3)."""

from __future__ import annotations

from typing import Any, Final

import msgspec

from app.contracts.ids import Identifier
from app.contracts.policy import Funding, Projection, RebalancePolicy, SkippedDelta

__all__ = [
    "LATEST_SCHEMA_VERSION",
    "PLAN_DECODER",
    "POLICY_SCHEMA_VERSION",
    "AlphaMetricsEnvelope",
    "ApplyRequest",
    "ExecuteRequest",
    "OverlayConfig",
    "PlanInputs",
    "PlanResponse",
    "PlanV1",
    "PlanV2",
    "PlanV3",
    "PositionSlice",
    "RebalanceIntent",
    "RebalanceRequest",
    "SymbolDelta",
    "WorldPlan",
    "schema_version_of",
]

LATEST_SCHEMA_VERSION: Final = 3
"""The newest schema version of the contract."""
POLICY_SCHEMA_VERSION: Final = 3
"""The first schema version whose requests may carry a rebalancing ``policy``."""

MetricMap = dict[str, float]


class _Wire(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Base of request-side wire structs: unknown fields are ignored (forward compatible);
    unset fields are left out when encoded (a request without ``schema_version`` is v1)."""


class PositionSlice(_Wire, frozen=True, kw_only=True, gc=False):
    """One strategy's holding of one symbol in one world (``qty`` is signed).

    ``gc=False``: it holds only strings and numbers (no cycles possible), so the cyclic
    GC need not track the many instances a big request decodes into.
    """

    world_id: str
    strategy_id: str
    symbol: str
    qty: float
    mark: float
    venue: str | None = None


class OverlayConfig(_Wire, frozen=True, kw_only=True):
    """How overlay (and the overlay part of hybrid) plans trade an index instrument per world."""

    instrument_by_world: dict[str, str] = msgspec.field(default_factory=dict)
    price_by_symbol: dict[str, float] = msgspec.field(default_factory=dict)
    min_order_notional: float = 0.0
    overlay_fraction: float | None = None


class RebalanceIntent(_Wire, frozen=True, kw_only=True, omit_defaults=False):
    """Free-form metadata a caller attaches to a plan; echoed in v2 only (``{"meta": {}}``
    when none was sent, so the echo always carries ``meta``)."""

    meta: dict[str, Any] = msgspec.field(default_factory=dict)


class PlanInputs(_Wire, frozen=True, kw_only=True):
    """What every plan is computed from, besides the world allocations: shared by the
    rebalance request and the allocations upsert (whose before-allocations are stored)."""

    total_equity: float
    positions: list[PositionSlice]
    strategy_alloc_before_total: dict[str, dict[str, float]] | None = None
    strategy_alloc_after_total: dict[str, dict[str, float]] | None = None
    min_trade_notional: float | None = None
    lot_size_by_symbol: dict[str, float] | None = None
    mode: str = "scaling"
    overlay: OverlayConfig | None = None
    schema_version: int | None = None
    rebalance_intent: RebalanceIntent | None = None
    realized_returns_by_world: dict[str, list[float]] | None = None
    realized_returns_by_strategy: dict[str, dict[str, list[float]]] | None = None
    policy: RebalancePolicy | None = None


class RebalanceRequest(PlanInputs, frozen=True, kw_only=True):
    """``MultiWorldRebalanceRequest``, the plan request; the validator checks range rules."""

    world_alloc_before: dict[str, float]
    world_alloc_after: dict[str, float]


class ApplyRequest(RebalanceRequest, frozen=True, kw_only=True):
    """``POST /worldservice/rebalancing/apply`` body: a plan request plus an optional run id."""

    run_id: Identifier | None = None


class ExecuteRequest(RebalanceRequest, frozen=True, kw_only=True):
    """``POST /rebalancing/execute`` body: a plan request plus an optional ``run_id`` that
    makes a submit idempotent (as the ``Idempotency-Key`` header does)."""

    run_id: Identifier | None = None


class SymbolDelta(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """A signed quantity change of one symbol (at one venue, when given; untracked by the
    cyclic GC like ``PositionSlice``)."""

    symbol: str
    delta_qty: float
    venue: str | None = None


class WorldPlan(msgspec.Struct, frozen=True, kw_only=True):
    """The plan for one world: its scales and its netted per-(venue, symbol) deltas."""

    world_id: str
    scale_world: float
    scale_by_strategy: dict[str, float]
    deltas: list[SymbolDelta]


class AlphaMetricsEnvelope(msgspec.Struct, frozen=True, kw_only=True):
    """v2 metrics: ``per_world[world]`` and ``per_strategy[strategy][world]`` → six keys."""

    per_world: dict[str, MetricMap] = msgspec.field(default_factory=dict)
    per_strategy: dict[str, dict[str, MetricMap]] = msgspec.field(default_factory=dict)


class _PlanBase(
    msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, tag_field="schema_version"
):
    """Fields shared by every schema version. Optional apply/allocation fields are omitted
    when unset, so a plain ``/plan`` answer carries exactly the contract's plan fields."""

    per_world: dict[str, WorldPlan]
    global_deltas: list[SymbolDelta]
    overlay_deltas: list[SymbolDelta] | None = None
    run_id: Identifier | None = None
    etag: str | None = None
    executed: bool | None = None

    @property
    def schema_version(self) -> int:
        """The schema version of this answer: its wire tag (1, 2 or 3)."""
        tag = type(self).__struct_config__.tag
        return tag if isinstance(tag, int) else 1


class PlanV1(_PlanBase, tag=1, frozen=True, kw_only=True):
    """Schema v1 response: never carries v2 fields."""


class PlanV2(_PlanBase, tag=2, frozen=True, kw_only=True):
    """Schema v2 response: adds ``alpha_metrics`` and the echoed ``rebalance_intent``."""

    alpha_metrics: AlphaMetricsEnvelope
    rebalance_intent: RebalanceIntent


class PlanV3(PlanV2, tag=3, frozen=True, kw_only=True):
    """Schema v3 response: v2 plus what the policy did (``skipped``), where the plan leaves
    each world (``projection``) and, with a cash policy, how the buys were funded."""

    skipped: list[SkippedDelta]
    projection: Projection
    funding: Funding | None = None


PlanResponse = PlanV1 | PlanV2 | PlanV3

PLAN_DECODER: msgspec.json.Decoder[PlanResponse] = msgspec.json.Decoder(PlanResponse)
"""The one decoder of plan answers (v1, v2 or v3, by their ``schema_version`` tag)."""


def schema_version_of(plan: PlanResponse) -> int:
    """The schema version of an answer: its ``schema_version`` tag."""
    return plan.schema_version
