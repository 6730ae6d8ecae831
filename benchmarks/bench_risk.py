"""The pre-trade risk check on a 10k-order execute, against the whole execute.

``POST /rebalancing/execute?per_strategy=true`` on the 10k-position body of
``bench_execute`` gives ~10k orders (one per strategy and symbol). Every limit is set
(loose enough that the orders pass) and a world is ``REDUCING``, so every check runs on
every order. Timed: the execute over HTTP, as a stored preview and as a submit, and the
risk gate as each runs it (states and token buckets read from SQLite; a submit also takes
its tokens in one write), and the pure checks alone.
"""

from __future__ import annotations

import logging
import statistics
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import msgspec
import structlog
from anyio.from_thread import start_blocking_portal

from app.contracts.events import EVENT_SOURCE_GATEWAY, RISK_STATE_CHANGED, new_event
from app.contracts.rebalancing import PlanResponse, RebalanceRequest
from app.contracts.risk import RiskStates, TradingStateRecord, default_state
from app.gateway.constraints import RuleBook
from app.gateway.orders import convert_plan
from app.gateway.risk import RiskBasis, RiskLimits, check_orders
from app.gateway.risk_gate import RiskGate
from app.main import create_app
from app.settings import load_settings
from app.store.adapters.sqlite import SqliteStore
from app.store.ports import StateDecision
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


def _timed(fn: Any) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def _settings(folder: Path, name: str) -> Any:
    return load_settings(
        environ={},
        overrides={
            "store": {"sqlite_path": str(folder / f"{name}.sqlite3")},
            "worldservice": {"server": {"compat_rebalance_v2": True}},
            "gateway": {"rebalance_schema_version": 2, "risk": RISK},
            "server": {"log_level": "warning"},
        },
    )


def _basis(body: dict[str, Any]) -> RiskBasis:
    settings = load_settings(
        environ={}, overrides={"worldservice": {"server": {"compat_rebalance_v2": True}}}
    )
    request = msgspec.convert(body, RebalanceRequest)
    plan: PlanResponse = PlanningService(settings).plan(request)
    conversion = convert_plan(request, plan, RuleBook([], []), scope="per_strategy")
    return RiskBasis(
        scope="per_strategy",
        batches=conversion.batches,
        holdings=conversion.holdings,
        worlds=sorted({p.world_id for p in request.positions}),
    )


def main() -> None:
    """Run the benchmark and print the figures and the ratios.

    Each round times one execute over HTTP and, right after it, the risk gate alone (on a
    store of its own, same settings), so both figures of a round see the same machine load;
    the ratio reported is the median of the per-round ratios.
    """
    logging.getLogger("uvicorn").setLevel(logging.ERROR)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    body = make_body()
    content = msgspec.json.encode(body)
    basis = _basis(body)
    candidates = sum(len(b.orders) for b in basis.batches)
    reduce = {"state": "REDUCING", "reason": "benchmark"}
    rows: dict[str, list[tuple[float, float]]] = {"preview": [], "submit": []}
    with (
        tempfile.TemporaryDirectory() as tmp,
        start_blocking_portal() as portal,
        serve_in_thread(create_app(_settings(Path(tmp), "http")), ws="none") as url,
        httpx.Client(timeout=120.0) as client,
    ):
        store = SqliteStore(Path(tmp) / "gate.sqlite3")
        portal.call(store.start)
        gate = RiskGate(_settings(Path(tmp), "gate").gateway.risk, store)
        client.put(f"{url}/risk/worlds/w05", json=reduce).raise_for_status()
        portal.call(partial(store.set_risk_state, "world", "w05", _reducing))
        answer: dict[str, Any] = {}

        def execute(query: str, headers: dict[str, str]) -> None:
            nonlocal answer
            response = client.post(f"{url}/rebalancing/execute?per_strategy=true{query}",
                                   content=content,
                                   headers={"content-type": "application/json", **headers})
            response.raise_for_status()
            answer = response.json()

        modes = {"preview": ("", {}), "submit": ("&submit=true", {"x-allow-live": "true"})}
        for mode, (query, headers) in modes.items():
            execute(query, headers)  # warm-up
            for _ in range(ROUNDS):
                total = _timed(lambda q=query, h=headers: execute(q, h))
                risk = _timed(lambda m=mode: portal.call(gate.judge, basis, m))
                rows[mode].append((total, risk))
        passed = sum(len(o) for o in answer["orders_per_world"].values())
        denied = len(answer["denied"])
        portal.call(store.close)
    print(f"body: {len(body['positions'])} positions -> {candidates} orders (per_strategy), "
          f"{passed} pass, {denied} denied (one world REDUCING); {ROUNDS} rounds each")
    for mode, pairs in rows.items():
        total = statistics.median(t for t, _ in pairs)
        risk = statistics.median(r for _, r in pairs)
        share = statistics.median(100 * r / t for t, r in pairs)
        print(f"execute {mode:<8} over HTTP  median {total:7.1f} ms   risk gate median "
              f"{risk:6.1f} ms   risk / execute (median of rounds) {share:4.1f}%")
    limits = RiskLimits.of(_settings(Path("."), "unused").gateway.risk)
    states = RiskStates(
        global_state=default_state("global"),
        worlds={"w05": msgspec.structs.replace(default_state("world", "w05"), state="REDUCING")},
    )
    pure = _median_ms(lambda: check_orders(basis, states, limits))
    print(f"pure checks alone (one pass, no I/O)   median {pure:6.1f} ms")


def _reducing(current: TradingStateRecord) -> StateDecision:
    """The benchmark's own store: world w05 REDUCING, as on the server."""
    record = msgspec.structs.replace(current, state="REDUCING", version=1, etag="bench")
    event = new_event(RISK_STATE_CHANGED, EVENT_SOURCE_GATEWAY, {}, subject="w05")
    return StateDecision(record=record, event=event)


if __name__ == "__main__":
    main()
