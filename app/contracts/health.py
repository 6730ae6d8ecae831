"""Gateway health and status wire structs: the capability bits and component states."""

from __future__ import annotations

from typing import Literal

import msgspec

from app.contracts.risk import RiskLimitsSummary

__all__ = ["Capabilities", "ComponentState", "HealthReport", "StatusReport"]

ComponentState = Literal["ok", "down", "absent"]
"""``absent``: the component is not part of this process (e.g. no bus configured)."""


class Capabilities(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The Gateway's capability bits as SDKs read them."""

    rebalance_schema_version: int
    alpha_metrics_capable: bool
    compute_context_contract: str | None = None


class HealthReport(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """``GET /health``: always 200; ``status`` is ``degraded`` with ``reason`` when a
    component is down or the configured schema version exceeds WorldService's."""

    status: Literal["ok", "degraded"]
    worldservice: ComponentState
    controlbus: ComponentState
    store: ComponentState
    capabilities: Capabilities
    rebalance_schema_version: int
    alpha_metrics_capable: bool
    worldservice_max_schema_version: int | None = None
    reason: str | None = None
    checked_at: str
    risk: RiskLimitsSummary | None = None


class StatusReport(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """``GET /status``: the health report plus the running configuration."""

    health: HealthReport
    version: str
    roles: list[str]
    worldservice_mode: Literal["in_process", "http"]
    worldservice_url: str | None = None
    enforce_live_guard: bool
    flip_policy: str
    shared_account_enabled: bool
    venue_policies: int
    instrument_constraints: int
    worldservice_compat_rebalance_v2: bool | None = None
    worldservice_alpha_metrics_required: bool | None = None
    worldservice_compat_rebalance_v3: bool | None = None
