"""Apply benchmark: applies/second with 1k-position bodies on SQLite over real HTTP (uvicorn
on loopback), and the end-to-end latency from sending an apply to its first
``rebalancing_planned`` event reaching a ControlBus subscriber in the server's process.

The server (uvicorn, the app, the outbox publisher) and the subscriber run on this process's
event loop; the HTTP clients run in worker threads with their own connections, so the figures
include Python's GIL contention between client and server, as a single-core deployment would.
"""

from __future__ import annotations

import random
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import httpx
import uvicorn

from app.container import build_container
from app.contracts.events import REBALANCING_PLANNED
from app.main import create_app
from app.observability.logging import configure_logging
from app.settings import load_settings

POSITIONS = 1_000
WORLDS = 4
THROUGHPUT_CLIENTS = 4
THROUGHPUT_APPLIES = 100  # per client
LATENCY_APPLIES = 300
WARMUP = 20


def build_body(positions: int = POSITIONS, seed: int = 11) -> dict[str, Any]:
    """A 1k-position apply body over ``WORLDS`` worlds (run_id is set per request)."""
    rng = random.Random(seed)
    worlds = [f"world-{i}" for i in range(WORLDS)]
    return {
        "total_equity": 10_000_000.0,
        "world_alloc_before": {w: 1.0 / WORLDS for w in worlds},
        "world_alloc_after": {w: (0.8 if i == 0 else 1.0) / WORLDS for i, w in enumerate(worlds)},
        "positions": [
            {
                "world_id": rng.choice(worlds),
                "strategy_id": f"s{rng.randrange(5)}",
                "symbol": f"SYM{rng.randrange(300):03d}",
                "qty": round(rng.uniform(-50, 50), 4),
                "mark": round(rng.uniform(1, 500), 2),
            }
            for _ in range(positions)
        ],
    }


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _client_loop(
    url: str, body: dict[str, Any], prefix: str, count: int, sent: dict[str, float]
) -> list[float]:
    """Apply ``count`` runs one after another; return HTTP round-trip seconds."""
    rtts: list[float] = []
    with httpx.Client(base_url=url, timeout=30.0) as client:
        for i in range(count):
            run_id = f"{prefix}-{i}"
            started = time.perf_counter()
            sent[run_id] = started
            answer = client.post("/worldservice/rebalancing/apply", json={**body, "run_id": run_id})
            rtts.append(time.perf_counter() - started)
            if answer.status_code != 200:
                raise RuntimeError(f"apply failed: {answer.status_code} {answer.text[:200]}")
    return rtts


async def _run(db: Path) -> dict[str, float]:
    settings = load_settings(
        environ={},
        overrides={"store": {"sqlite_path": str(db)}, "server": {"roles": ["worldservice"]}},
    )
    container = build_container(settings)
    app = create_app(container=container)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(
        uvicorn.Config(app, lifespan="on", log_level="error", access_log=False, ws="none")
    )
    body = build_body()
    sent: dict[str, float] = {}
    delivered: dict[str, float] = {}
    results: dict[str, float] = {}
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve, [sock])
        while not server.started:
            await anyio.sleep(0.01)
        bus = container.controlbus()

        async def subscriber() -> None:
            async with bus.subscribe([REBALANCING_PLANNED]) as sub:
                async for envelope in sub:
                    run_id = envelope.event.data["run_id"]
                    delivered.setdefault(run_id, time.perf_counter())

        tg.start_soon(subscriber)
        await anyio.to_thread.run_sync(_client_loop, url, body, "warm", WARMUP, sent)

        started = time.perf_counter()
        async with anyio.create_task_group() as clients:
            for c in range(THROUGHPUT_CLIENTS):
                clients.start_soon(
                    anyio.to_thread.run_sync, _client_loop, url, body, f"tp{c}",
                    THROUGHPUT_APPLIES, sent,
                )
        elapsed = time.perf_counter() - started
        results["applies_per_second"] = THROUGHPUT_CLIENTS * THROUGHPUT_APPLIES / elapsed

        rtts = await anyio.to_thread.run_sync(
            _client_loop, url, body, "lat", LATENCY_APPLIES, sent
        )
        with anyio.fail_after(30):
            while any(f"lat-{i}" not in delivered for i in range(LATENCY_APPLIES)):
                await anyio.sleep(0.01)
        latencies = [delivered[f"lat-{i}"] - sent[f"lat-{i}"] for i in range(LATENCY_APPLIES)]
        results["rtt_p50_ms"] = statistics.median(rtts) * 1e3
        results["rtt_p99_ms"] = _percentile(rtts, 0.99) * 1e3
        results["event_p50_ms"] = statistics.median(latencies) * 1e3
        results["event_p99_ms"] = _percentile(latencies, 0.99) * 1e3
        results["body_kib"] = len(httpx.Request("POST", url, json=body).read()) / 1024
        server.should_exit = True
        tg.cancel_scope.cancel()
    sock.close()
    return results


def main() -> None:
    """Print applies/second and apply→event latency percentiles."""
    configure_logging("console", "error", cache_loggers=False)
    with tempfile.TemporaryDirectory() as tmp:
        results = anyio.run(_run, Path(tmp) / "bench.sqlite3")
    print(f"body: {POSITIONS} positions, {WORLDS} worlds ({results['body_kib']:.0f} KiB); "
          f"SQLite synchronous=FULL, WAL; uvicorn on loopback")
    print(f"throughput ({THROUGHPUT_CLIENTS} clients x {THROUGHPUT_APPLIES} applies): "
          f"{results['applies_per_second']:.1f} applies/s")
    print(f"apply round trip ({LATENCY_APPLIES} sequential): p50 {results['rtt_p50_ms']:.2f} ms, "
          f"p99 {results['rtt_p99_ms']:.2f} ms")
    print(f"apply -> event delivered to a subscriber: p50 {results['event_p50_ms']:.2f} ms, "
          f"p99 {results['event_p99_ms']:.2f} ms")


if __name__ == "__main__":
    threading.current_thread().name = "bench_apply"
    main()
