"""Pure rebalance planning math: a forward pipeline of vectorised passes over positions."""

from __future__ import annotations

from app.worldservice.planner.arrays import PlanOverflowError
from app.worldservice.planner.columns import Columns, columns
from app.worldservice.planner.pipeline import MODES, PlanParts, compute_plan
from app.worldservice.planner.rounding import NOISE_RELATIVE
from app.worldservice.planner.scales import world_scale

__all__ = [
    "MODES",
    "NOISE_RELATIVE",
    "Columns",
    "PlanOverflowError",
    "PlanParts",
    "columns",
    "compute_plan",
    "world_scale",
]
