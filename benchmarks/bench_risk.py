"""The pre-trade risk check on a 10k-order execute, against the whole execute.

``POST /rebalancing/execute?per_strategy=true`` on the 10k-position body of
``bench_execute`` gives ~10k orders (one per strategy and symbol). Every limit is set
(loose enough that the orders pass) and a world is ``REDUCING``, so every check runs on
every order. Timed: the execute over HTTP (a stored preview), the risk gate as the execute
runs it (states and token buckets read from SQLite; one pass, as the buckets cover the
orders), and the pure checks alone — one pass, and the two passes of an execute whose rate
limit bites.
"""

from __future__ import annotations

import logging
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
import msgspec
import structlog

from app.contracts.rebalancing import PlanResponse, RebalanceRequest
from app.gateway.constraints import RuleBook
from app.gateway.orders import convert_plan
from app.gateway.risk import RiskBasis, RiskLimits, check_orders
from app.gateway.risk_gate import RiskGate
from app.main import create_app
from app.settings import load_settings
from app.store.adapters.sqlite import SqliteStore
from app.testing import serve_in_thread
from app.worldservice.plans import PlanningService
from benchmarks.bench_execute import make_body

__all__ = ["main"]

ROUNDS = 10
RISK: dict[str, Any] = {
    "max_order_notional": 1e9,
    "max_world_gross_notional": 1e12,
    "max_orders_per_execution": 1_000_000,
    "order_rate_per_minute": 1e9,
    "restricted": {
        "do_not_buy": ["NOPE1", "NOPE2"],
        "by_world": {"w03": {"do_not_sell": ["NOPE3"]}},
    },
}


def _median_ms(fn: Any, rounds: int = ROUNDS) -> float:
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


def _execute_over_http(folder: Path, content: bytes) -> tuple[float, int, int]:
    settings = load_settings(
        environ={},
        overrides={
            "store": {"sqlite_path": str(folder / "http.sqlite3")},
            "worldservice": {"server": {"compat_rebalance_v2": True}},
            "gateway": {"rebalance_schema_version": 2, "risk": RISK},
            "server": {"log_level": "warning"},
        },
    )
    with serve_in_thread(create_app(settings), ws="none") as url, httpx.Client(
        timeout=120.0
    ) as client:
        reduce = {"state": "REDUCING", "reason": "benchmark"}
        client.put(f"{url}/risk/worlds/w05", json=reduce).raise_for_status()
        headers = {"content-type": "application/json"}
        answer: dict[str, Any] = {}

        def call() -> None:
            nonlocal answer
            response = client.post(
                f"{url}/rebalancing/execute?per_strategy=true", content=content, headers=headers
            )
            response.raise_for_status()
            answer = response.json()

        call()  # warm-up
        median = _median_ms(call)
    orders = sum(len(o) for o in answer["orders_per_world"].values())
    return median, orders, len(answer["denied"])


async def _gate(folder: Path, basis: RiskBasis) -> float:
    store = SqliteStore(folder / "gate.sqlite3")
    await store.start()
    try:
        settings = load_settings(environ={}, overrides={"gateway": {"risk": RISK}})
        gate = RiskGate(settings.gateway.risk, store)
        timings = []
        for _ in range(ROUNDS + 1):
            started = time.perf_counter()
            await gate.judge(basis, "preview")
            timings.append((time.perf_counter() - started) * 1000)
        return statistics.median(timings[1:])
    finally:
        await store.close()


def main() -> None:
    """Run the benchmark and print the figures and the ratio."""
    logging.getLogger("uvicorn").setLevel(logging.ERROR)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    body = make_body()
    content = msgspec.json.encode(body)
    settings = load_settings(
        environ={}, overrides={"worldservice": {"server": {"compat_rebalance_v2": True}}}
    )
    request = msgspec.convert(body, RebalanceRequest)
    plan: PlanResponse = PlanningService(settings).plan(request)
    conversion = convert_plan(request, plan, RuleBook([], []), scope="per_strategy")
    basis = RiskBasis(
        scope="per_strategy",
        batches=conversion.batches,
        holdings=conversion.holdings,
        worlds=sorted({p.world_id for p in request.positions}),
    )
    candidates = sum(len(b.orders) for b in conversion.batches)
    limits = RiskLimits.of(load_settings(environ={}, overrides={"gateway": {"risk": RISK}})
                           .gateway.risk)
    from app.contracts.risk import RiskStates, default_state

    reducing = msgspec.structs.replace(default_state("world", "w05"), state="REDUCING")
    states = RiskStates(global_state=default_state("global"), worlds={"w05": reducing})
    budget = {b.world_id: 10**9 for b in conversion.batches}

    def pure() -> None:
        check_orders(basis, states, limits)

    def pure_twice() -> None:
        check_orders(basis, states, limits)
        check_orders(basis, states, limits, budget)

    pure_ms = _median_ms(pure)
    twice_ms = _median_ms(pure_twice)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        gate_ms = anyio.run(_gate, folder, basis)
        execute_ms, passed, denied = _execute_over_http(folder, content)
    print(f"body: {len(request.positions)} positions -> {candidates} orders "
          f"(per_strategy); {ROUNDS} timed rounds each")
    print(f"{'execute over HTTP (preview stored)':<40} median {execute_ms:8.1f} ms   "
          f"passed {passed}  denied {denied}")
    print(f"{'risk gate (states + buckets, as run)':<40} median {gate_ms:8.1f} ms   "
          f"{100 * gate_ms / execute_ms:5.1f}% of execute")
    print(f"{'pure checks, one pass':<40} median {pure_ms:8.1f} ms   "
          f"{100 * pure_ms / execute_ms:5.1f}% of execute")
    print(f"{'pure checks, two passes (rate biting)':<40} median {twice_ms:8.1f} ms   "
          f"{100 * twice_ms / execute_ms:5.1f}% of execute")


if __name__ == "__main__":
    main()
