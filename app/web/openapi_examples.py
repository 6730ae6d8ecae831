"""Example request bodies for the OpenAPI document (one per kind of body).

Route modules document their body with a never-called ``_x_body(data: Annotated[T, X_BODY])``
dependency; these ``Body`` markers add a worked example to each.
"""

from __future__ import annotations

from typing import Any

from litestar.openapi.spec import Example
from litestar.params import Body

__all__ = [
    "ALLOCATIONS_BODY",
    "APPLY_BODY",
    "EXECUTE_BODY",
    "KEY_CREATE_BODY",
    "KEY_REVOKE_BODY",
    "PLAN_BODY",
    "RISK_STATE_BODY",
]

_POSITIONS: list[dict[str, Any]] = [
    {"world_id": "crypto-momo", "strategy_id": "trend", "symbol": "BTCUSDT",
     "venue": "binance", "qty": 1.0, "mark": 60000},
    {"world_id": "crypto-momo", "strategy_id": "breakout", "symbol": "ETHUSDT",
     "venue": "binance", "qty": 15.0, "mark": 3000},
    {"world_id": "equity-carry", "strategy_id": "carry", "symbol": "SPY", "qty": 200,
     "mark": 500},
]
_PLAN: dict[str, Any] = {
    "total_equity": 1_000_000,
    "world_alloc_before": {"crypto-momo": 0.3, "equity-carry": 0.2},
    "world_alloc_after": {"crypto-momo": 0.2, "equity-carry": 0.25},
    "positions": _POSITIONS,
    "min_trade_notional": 100,
    "lot_size_by_symbol": {"BTCUSDT": 0.001, "ETHUSDT": 0.01, "SPY": 1},
    "schema_version": 2,
    "rebalance_intent": {"meta": {"ticket": "RB-1042"}},
    "realized_returns_by_world": {"crypto-momo": [0.1, -0.05, 0.2]},
}

PLAN_BODY = Body(
    description="A `MultiWorldRebalanceRequest`: positions, allocations before and after.",
    examples=[Example(summary="Two worlds, schema v2 with realized returns", value=_PLAN)],
)
APPLY_BODY = Body(
    description="The plan request plus an optional `run_id` (idempotency key).",
    examples=[Example(summary="Apply with a run_id", value={**_PLAN, "run_id": "rb-2026-11-26"})],
)
EXECUTE_BODY = Body(
    description="The plan request plus an optional `run_id`: a submit under it (or under an "
                "`Idempotency-Key` header) is recorded once.",
    examples=[Example(summary="Execute with a run_id", value={**_PLAN, "run_id": "ex-2026-11-26"})],
)
ALLOCATIONS_BODY = Body(
    description="New world allocations; before-allocations come from the stored ones.",
    examples=[Example(summary="Move 10% from crypto to equities", value={
        "run_id": "alloc-2026-11-26",
        "total_equity": 1_000_000,
        "world_allocations": {"crypto-momo": 0.2, "equity-carry": 0.3},
        "positions": _POSITIONS,
    })],
)
RISK_STATE_BODY = Body(
    description="The new trading state and why.",
    examples=[
        Example(summary="Halt", value={"state": "HALTED", "reason": "venue outage"}),
        Example(summary="Reduce only", value={"state": "REDUCING", "reason": "drawdown limit"}),
        Example(summary="Resume", value={"state": "ACTIVE", "reason": "venue back"}),
    ],
)
KEY_CREATE_BODY = Body(
    description="A name for people, the scopes, optionally an expiry and a request budget.",
    examples=[
        Example(summary="A research notebook: previews only", value={
            "name": "notebook-ana", "scopes": ["read", "plan", "execute"],
            "expires_at": "2026-03-01T00:00:00Z", "rate_per_minute": 120,
        }),
        Example(summary="The risk desk", value={"name": "risk-desk", "scopes": ["read", "risk"]}),
    ],
)
KEY_REVOKE_BODY = Body(
    description="Why (kept in the audit log); the body may be left out.",
    examples=[Example(summary="Rotation", value={"reason": "rotated to notebook-ana-2"})],
)
