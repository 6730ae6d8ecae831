"""``POST /rebalancing/execute`` with a 10k-position body, in-process and HTTP WorldService.

Real uvicorn servers on loopback ports: one app with both roles (in-process WorldService),
and a gateway-only app reaching a worldservice-only app over HTTP. Also times the pure
order conversion alone.
"""

from __future__ import annotations

import logging
import random
import statistics
import tempfile
import time
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path
from typing import Any

import httpx
import msgspec
import structlog

from app.contracts.rebalancing import PlanResponse, RebalanceRequest
from app.gateway.constraints import RuleBook
from app.gateway.orders import convert_plan
from app.main import create_app
from app.settings import load_settings
from app.testing import serve_in_thread
from app.worldservice.plans import PlanningService

__all__ = ["main", "make_body"]

POSITIONS = 10_000
ROUNDS = 15


def make_body(positions: int = POSITIONS, seed: int = 7) -> dict[str, Any]:
    """A v2 request: 20 worlds × 50 strategies × 10 symbols, longs and shorts, returns."""
    rng = random.Random(seed)
    worlds = [f"w{i:02d}" for i in range(20)]
    rows = []
    for i in range(positions):
        j = i // len(worlds)  # each world: 50 strategies × 10 symbols on two venues
        rows.append(
            {
                "world_id": worlds[i % len(worlds)],
                "strategy_id": f"s{(j // 10) % 50:02d}",
                "symbol": f"SYM{j % 10}",
                "qty": rng.choice([-1, 1]) * rng.uniform(1, 100),
                "mark": 10.0 + (j % 10) * 5.0,
                "venue": "binance" if (j // 100) % 2 else "okx",
            }
        )
    return {
        "total_equity": 10_000_000.0,
        "world_alloc_before": {w: 0.05 for w in worlds},
        "world_alloc_after": {w: 0.05 * rng.uniform(0.5, 1.5) for w in worlds},
        "positions": rows,
        "lot_size_by_symbol": {f"SYM{k}": 0.01 for k in range(10)},
        "schema_version": 2,
        "realized_returns_by_world": {w: [rng.gauss(0, 0.01) for _ in range(250)] for w in worlds},
    }


def _serve(app: Any) -> AbstractContextManager[str]:
    return serve_in_thread(app, ws="none")  # HTTP only


def _app(folder: Path, name: str, **overrides: Any) -> Any:
    base: dict[str, Any] = {
        "store": {"sqlite_path": str(folder / f"{name}.sqlite3")},
        "worldservice": {"server": {"compat_rebalance_v2": True}},
        "server": {"log_level": "warning"},
    }
    for key, value in overrides.items():
        base[key] = {**base.get(key, {}), **value}
    return create_app(load_settings(environ={}, overrides=base))


def _time(url: str, content: bytes, rounds: int) -> tuple[list[float], dict[str, Any]]:
    timings: list[float] = []
    answer: dict[str, Any] = {}
    headers = {"content-type": "application/json"}
    with httpx.Client(timeout=120.0) as client:
        for i in range(rounds + 1):
            started = time.perf_counter()
            response = client.post(f"{url}/rebalancing/execute", content=content, headers=headers)
            elapsed = time.perf_counter() - started
            response.raise_for_status()
            if i:  # the first call warms caches and connections
                timings.append(elapsed * 1000)
            answer = response.json()
    return timings, answer


def _report(label: str, timings: list[float], answer: dict[str, Any]) -> None:
    orders = sum(len(o) for o in answer["orders_per_world"].values())
    p95 = statistics.quantiles(timings, n=20)[-1]
    print(
        f"{label:<34} median {statistics.median(timings):8.1f} ms   p95 {p95:8.1f} ms   "
        f"orders {orders}  schema v{answer['rebalance_schema_version']}  "
        f"alpha_capable {answer['alpha_metrics_capable']}"
    )


def _convert_only(body: dict[str, Any]) -> None:
    settings = load_settings(
        environ={}, overrides={"worldservice": {"server": {"compat_rebalance_v2": True}}}
    )
    request = msgspec.convert(body, RebalanceRequest)
    plan: PlanResponse = PlanningService(settings).plan(request)
    rules = RuleBook([], [])
    timings = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        convert_plan(request, plan, rules, scope="per_strategy")
        timings.append((time.perf_counter() - started) * 1000)
    print(f"{'convert_plan per_strategy (pure)':<34} median {statistics.median(timings):8.1f} ms")


def main() -> None:
    """Run the benchmark and print one line per configuration."""
    logging.getLogger("uvicorn").setLevel(logging.ERROR)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    body = make_body()
    content = msgspec.json.encode(body)
    print(f"body: {POSITIONS} positions, {len(content) / 1e6:.1f} MB; {ROUNDS} timed rounds each")
    gw = {"gateway": {"rebalance_schema_version": 2, "alpha_metrics_capable": True}}
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        folder = Path(tmp)
        both = stack.enter_context(_serve(_app(folder, "both", **gw)))
        _report("execute, in-process WorldService", *_time(both, content, ROUNDS))
        ws_only = stack.enter_context(
            _serve(_app(folder, "ws", server={"roles": ["worldservice"]}))
        )
        gateway_only = stack.enter_context(
            _serve(
                _app(
                    folder,
                    "gw",
                    server={"roles": ["gateway"]},
                    gateway={
                        **gw["gateway"],
                        "worldservice_url": f"{ws_only}/worldservice",
                    },
                )
            )
        )
        _report("execute, HTTP WorldService", *_time(gateway_only, content, ROUNDS))
    _convert_only(body)


if __name__ == "__main__":
    main()
