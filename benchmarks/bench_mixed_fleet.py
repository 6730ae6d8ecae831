"""Mixed fleets: the cost of reading peer plans leniently and of per-strategy attribution.

Times, on the 10k-position v2 plan of ``bench_execute`` (20 worlds × 50 strategies):
- ``read_plan_bytes`` of Worldgate's own answer (the strict fast road) against the plain
  tagged decoder, and of the same plan in QMTL's shape (no ``schema_version`` tag, no
  ``world_id``, no ``global_deltas``: the field-by-field road);
- ``convert_plan(scope="per_strategy")`` with scales (own deltas only) and with an empty
  ``scale_by_strategy`` and ``scale_world`` 1 (every world delta split by notional).
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable
from typing import Any

import msgspec
import structlog

from app.contracts.plan_reading import read_plan_bytes
from app.contracts.rebalancing import PLAN_DECODER, RebalanceRequest, WorldPlan
from app.gateway.constraints import RuleBook
from app.gateway.orders import convert_plan
from app.settings import load_settings
from app.worldservice.plans import PlanningService
from benchmarks.bench_execute import make_body

__all__ = ["main"]

ROUNDS = 30


def _median_ms(fn: Callable[[], Any], rounds: int = ROUNDS) -> float:
    fn()  # warm-up
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def _qmtl_shape(plan: dict[str, Any]) -> bytes:
    """The v1 part of ``plan`` as a pre-v2 QMTL WorldService would send it."""
    worlds = {
        key: {k: v for k, v in entry.items() if k != "world_id"}
        for key, entry in plan["per_world"].items()
    }
    return msgspec.json.encode({"per_world": worlds})


def main() -> None:
    """Print the medians."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    settings = load_settings(
        environ={}, overrides={"worldservice": {"server": {"compat_rebalance_v2": True}}}
    )
    request = msgspec.convert(make_body(), RebalanceRequest)
    plan = PlanningService(settings).plan(request)
    own = msgspec.json.encode(plan)
    qmtl = _qmtl_shape(msgspec.to_builtins(plan))
    print(f"plan: {len(own) / 1024:.0f} KiB (Worldgate v2), {len(qmtl) / 1024:.0f} KiB (QMTL v1)")
    rows = [
        ("PLAN_DECODER.decode (strict, v2)", lambda: PLAN_DECODER.decode(own)),
        ("read_plan_bytes, Worldgate v2", lambda: read_plan_bytes(own)),
        ("read_plan_bytes, QMTL-shaped v1", lambda: read_plan_bytes(qmtl)),
    ]
    rules = RuleBook([], [])
    flat = msgspec.structs.replace(
        plan,
        per_world={
            w: WorldPlan(world_id=w, scale_world=1.0, scale_by_strategy={}, deltas=p.deltas)
            for w, p in plan.per_world.items()
        },
    )
    rows += [
        ("convert_plan per_strategy, own deltas",
         lambda: convert_plan(request, plan, rules, scope="per_strategy")),
        ("convert_plan per_strategy, all split",
         lambda: convert_plan(request, flat, rules, scope="per_strategy")),
        ("convert_plan per_world", lambda: convert_plan(request, plan, rules)),
    ]
    for label, fn in rows:
        print(f"{label:<40} median {_median_ms(fn):8.2f} ms")
