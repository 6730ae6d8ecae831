"""Apply benchmark: applies/second with 1k-position bodies on SQLite over real HTTP (uvicorn
on loopback), and the end-to-end latency from sending an apply to its first
``rebalancing_planned`` event reaching a ControlBus subscriber in the server's process.

The server (uvicorn, the app, the outbox publisher, the subscriber) runs on this process's
event loop; the HTTP clients are separate processes (a client thread here would fight the
server for the GIL and triple the round trip). Send and delivery times are both read from
``time.monotonic()`` (CLOCK_MONOTONIC, one clock for every process of a Linux machine).
"""

from __future__ import annotations

import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
import uvicorn

from app.container import build_container
from app.contracts.events import REBALANCING_PLANNED
from app.main import create_app
from app.runtime.logging import configure_logging
from app.settings import load_settings
from app.testing import serve_in_task, tcp_listener

POSITIONS = 1_000
WORLDS = 4
THROUGHPUT_CLIENTS = 4
THROUGHPUT_APPLIES = 150  # per client
LATENCY_APPLIES = 300
WARMUP = 20
REPO = Path(__file__).resolve().parent.parent


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


def client_main(url: str, prefix: str, count: int) -> None:
    """Client process: apply ``count`` runs one after another, print send times and RTTs."""
    body = build_body()
    encoded = [
        json.dumps({**body, "run_id": f"{prefix}-{i}"}).encode() for i in range(count)
    ]
    sent: dict[str, float] = {}
    rtts: list[float] = []
    with httpx.Client(base_url=url, timeout=30.0) as client:
        for i, content in enumerate(encoded):
            started = time.monotonic()
            sent[f"{prefix}-{i}"] = started
            answer = client.post(
                "/worldservice/rebalancing/apply",
                content=content,
                headers={"content-type": "application/json"},
            )
            rtts.append(time.monotonic() - started)
            if answer.status_code != 200:
                raise SystemExit(f"apply failed: {answer.status_code} {answer.text[:200]}")
    print(json.dumps({"sent": sent, "rtts": rtts, "end": time.monotonic()}))


async def _clients(url: str, prefixes: list[str], count: int) -> list[dict[str, Any]]:
    """Run one client process per prefix, all at once; return their reports."""
    reports: list[dict[str, Any]] = []

    async def one(prefix: str) -> None:
        done = await anyio.run_process(
            [sys.executable, "-m", "benchmarks.bench_apply", "--client", url, prefix,
             str(count)],
            cwd=REPO,
            stderr=subprocess.STDOUT,
        )
        reports.append(json.loads(done.stdout.decode().strip().splitlines()[-1]))

    async with anyio.create_task_group() as tg:
        for prefix in prefixes:
            tg.start_soon(one, prefix)
    return reports


async def _run(db: Path) -> dict[str, float]:
    settings = load_settings(
        environ={},
        overrides={"store": {"sqlite_path": str(db)}, "server": {"roles": ["worldservice"]}},
    )
    container = build_container(settings)
    sock = tcp_listener()  # IPPROTO_TCP: TCP_NODELAY on accepted connections (no Nagle)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(container=container), lifespan="on", log_level="error",
            access_log=False, ws="none",
        )
    )
    delivered: dict[str, float] = {}
    results: dict[str, float] = {}

    async def subscriber() -> None:
        async with container.controlbus().subscribe([REBALANCING_PLANNED]) as sub:
            async for envelope in sub:
                delivered.setdefault(envelope.event.data["run_id"], time.monotonic())

    # Leaving serve_in_task stops the server gracefully (the app's lifespan shutdown runs).
    async with serve_in_task(server, sock), anyio.create_task_group() as tg:
        tg.start_soon(subscriber)
        await _clients(url, ["warm"], WARMUP)

        prefixes = [f"tp{c}" for c in range(THROUGHPUT_CLIENTS)]
        reports = await _clients(url, prefixes, THROUGHPUT_APPLIES)
        # From the first send to the last answer (process start-up is not counted).
        elapsed = max(r["end"] for r in reports) - min(min(r["sent"].values()) for r in reports)
        results["applies_per_second"] = THROUGHPUT_CLIENTS * THROUGHPUT_APPLIES / elapsed

        (report,) = await _clients(url, ["lat"], LATENCY_APPLIES)
        await anyio.sleep(0.5)  # the last events are published right after their answers
        sent: dict[str, float] = report["sent"]
        latencies = [delivered[run] - at for run, at in sent.items()]
        results["delivered"] = sum(run in delivered for run in sent)
        results["rtt_p50_ms"] = statistics.median(report["rtts"]) * 1e3
        results["rtt_p99_ms"] = _percentile(report["rtts"], 0.99) * 1e3
        results["event_p50_ms"] = statistics.median(latencies) * 1e3
        results["event_p99_ms"] = _percentile(latencies, 0.99) * 1e3
        tg.cancel_scope.cancel()
    sock.close()
    return results


def main() -> None:
    """Print applies/second and apply→event latency percentiles."""
    configure_logging("console", "error", cache_loggers=False)
    with tempfile.TemporaryDirectory() as tmp:
        results = anyio.run(_run, Path(tmp) / "bench.sqlite3")
    kib = len(json.dumps(build_body()).encode()) / 1024
    print(f"body: {POSITIONS} positions, {WORLDS} worlds ({kib:.0f} KiB); SQLite WAL, "
          f"synchronous=FULL; uvicorn on loopback; clients in separate processes")
    print(f"throughput ({THROUGHPUT_CLIENTS} clients x {THROUGHPUT_APPLIES} applies): "
          f"{results['applies_per_second']:.1f} applies/s")
    print(f"apply round trip ({LATENCY_APPLIES} sequential): p50 {results['rtt_p50_ms']:.2f} ms, "
          f"p99 {results['rtt_p99_ms']:.2f} ms")
    print(f"apply sent -> first event at a subscriber ({results['delivered']:.0f} delivered): "
          f"p50 {results['event_p50_ms']:.2f} ms, p99 {results['event_p99_ms']:.2f} ms")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--client":
        client_main(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        main()
