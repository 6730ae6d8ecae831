"""Soak: mixed plan/apply/execute traffic plus 50 WebSocket clients against a server process.

The server runs as a subprocess (``worldgate serve``, SQLite store, memory bus, bearer token
on); this process is the load generator, on loopback. It records throughput, p50/p99
latency per kind of request, errors (must be 0), the events each WebSocket client received
against those published (every client must get every event), and the server's RSS after
warm-up and at the end (growth must stay under 10%).

Knobs (environment): ``SOAK_SECONDS`` (600), ``SOAK_WS_CLIENTS`` (50), ``SOAK_CONCURRENCY``
(8 HTTP workers), ``SOAK_POSITIONS`` (30 positions per request), ``SOAK_WARMUP_SECONDS``
(10% of the run, at most 60).
"""

from __future__ import annotations

import asyncio
import os
import random
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import msgspec
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from app.testing import ServerProcess

__all__ = ["main"]

TOKEN = "soak-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
WORLDS = ("w1", "w2", "w3")


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return float(raw) if raw else default


def _rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("VmRSS not found")


def _request(rng: random.Random, n_positions: int) -> dict[str, Any]:
    positions = [
        {
            "world_id": WORLDS[i % len(WORLDS)],
            "strategy_id": f"s{i % 4}",
            "symbol": f"SYM{i % 12}",
            "qty": rng.choice((-1, 1)) * rng.uniform(1, 50),
            "mark": rng.uniform(10, 500),
            "venue": "binance",
        }
        for i in range(n_positions)
    ]
    before = {w: round(rng.uniform(0.1, 0.3), 4) for w in WORLDS}
    after = {w: round(rng.uniform(0.1, 0.3), 4) for w in WORLDS}
    return {
        "total_equity": 1_000_000.0,
        "world_alloc_before": before,
        "world_alloc_after": after,
        "positions": positions,
        "min_trade_notional": 5.0,
        "lot_size_by_symbol": {f"SYM{i}": 0.01 for i in range(12)},
    }


class _Frame(msgspec.Struct):
    type: str = ""


_frame_decoder = msgspec.json.Decoder(_Frame)
EVENT_TYPES = frozenset({"rebalancing_planned", "rebalancing_orders"})


class Stats:
    """Latencies and errors per request kind, and WebSocket traffic."""

    def __init__(self) -> None:
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.error_samples: list[str] = []
        self.ws_messages = 0
        self.ws_events = 0
        self.ws_lag_frames = 0
        self.ws_errors = 0

    def error(self, kind: str, what: str) -> None:
        self.errors[kind] += 1
        if len(self.error_samples) < 10:
            self.error_samples.append(f"{kind}: {what}")


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _http_worker(
    client: httpx.AsyncClient, stats: Stats, stop_at: float, seed: int, n_positions: int
) -> None:
    rng = random.Random(seed)
    counter = 0
    while time.monotonic() < stop_at:
        counter += 1
        body = _request(rng, n_positions)
        roll = rng.random()
        if roll < 0.5:
            kind, url, params, headers = "plan", "/rebalancing/plan", None, AUTH
        elif roll < 0.75:
            kind, url, params, headers = "apply", "/worldservice/rebalancing/apply", None, AUTH
            body["run_id"] = f"soak-{seed}-{counter}"
        else:
            kind, url, headers = "execute", "/rebalancing/execute", {**AUTH, "X-Allow-Live": "true"}
            params = {"submit": "true"} if rng.random() < 0.5 else None
        started = time.perf_counter()
        try:
            response = await client.post(url, json=body, params=params, headers=headers)
        except httpx.HTTPError as exc:
            stats.error(kind, f"{type(exc).__name__}: {exc}")
            continue
        stats.latency[kind].append(time.perf_counter() - started)
        if response.status_code != 200:
            stats.error(kind, f"{response.status_code} {response.text[:200]}")


async def _ws_client(url: str, stats: Stats, stop: asyncio.Event) -> None:
    try:
        async with ws_connect(url, additional_headers=AUTH, max_queue=None) as ws:
            while not stop.is_set():
                try:
                    raw = await asyncio.wait_for(ws.recv(), timeout=0.5)
                except TimeoutError:
                    continue
                stats.ws_messages += 1
                kind = _frame_decoder.decode(raw).type
                if kind in EVENT_TYPES:
                    stats.ws_events += 1
                elif kind == "lag":
                    stats.ws_lag_frames += 1
    except (OSError, ConnectionClosed) as exc:
        stats.ws_errors += 1
        stats.error("websocket", f"{type(exc).__name__}: {exc}")


async def _drive(port: int, pid: int, seconds: float, warmup: float) -> dict[str, Any]:
    stats = Stats()
    concurrency = int(_env_number("SOAK_CONCURRENCY", 8))
    n_ws = int(_env_number("SOAK_WS_CLIENTS", 50))
    n_positions = int(_env_number("SOAK_POSITIONS", 30))
    stop = asyncio.Event()
    ws_url = f"ws://127.0.0.1:{port}/events"
    ws_tasks = [asyncio.create_task(_ws_client(ws_url, stats, stop)) for _ in range(n_ws)]
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", timeout=30.0, limits=limits
    ) as client:
        started = time.monotonic()
        stop_at = started + seconds
        workers = [
            asyncio.create_task(_http_worker(client, stats, stop_at, seed, n_positions))
            for seed in range(concurrency)
        ]
        await asyncio.sleep(min(warmup, seconds))
        rss_warm = _rss_bytes(pid)
        requests_at_warm = sum(len(v) for v in stats.latency.values())
        warm_at = time.monotonic()
        # RSS every tenth of the run after warm-up: a plateau is allocator settling, a line
        # that keeps rising is a leak.
        rss_trace: list[tuple[float, int]] = [(warm_at - started, rss_warm)]
        step = max(1.0, (stop_at - warm_at) / 10)
        while time.monotonic() + step < stop_at:
            await asyncio.sleep(step)
            rss_trace.append((time.monotonic() - started, _rss_bytes(pid)))
        await asyncio.gather(*workers)
        elapsed = time.monotonic() - warm_at
        rss_end = _rss_bytes(pid)
        # Let the WebSocket clients read what is still queued before they leave (this one
        # process can fall minutes behind the server on a 2-core machine).
        seen, drain_deadline = -1, time.monotonic() + 600
        while stats.ws_messages != seen and time.monotonic() < drain_deadline:
            seen = stats.ws_messages
            await asyncio.sleep(1.0)
        metrics = (await client.get("/metrics")).text
    stop.set()
    await asyncio.gather(*ws_tasks)
    total = sum(len(v) for v in stats.latency.values())
    return {
        "stats": stats,
        "rss_warm": rss_warm,
        "rss_trace": rss_trace,
        "rss_end": rss_end,
        "throughput": (total - requests_at_warm) / elapsed if elapsed > 0 else 0.0,
        "total": total,
        "wall": time.monotonic() - started,
        "metrics": metrics,
        "n_ws": n_ws,
        "concurrency": concurrency,
        "n_positions": n_positions,
    }


def _metric_total(text: str, name: str) -> float:
    """Sum every sample of ``name`` (all label sets) in a Prometheus text exposition."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith((name + "{", name + " ")):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _metric_lines(text: str, prefixes: tuple[str, ...]) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(prefixes)]


def main() -> None:
    """Run the soak and print its figures."""
    seconds = _env_number("SOAK_SECONDS", 600)
    warmup = _env_number("SOAK_WARMUP_SECONDS", min(60.0, seconds * 0.1))
    with tempfile.TemporaryDirectory(prefix="worldgate-soak-") as tmp:
        env = {
            "WORLDGATE__STORE__SQLITE_PATH": str(Path(tmp) / "soak.sqlite3"),
            "WORLDGATE__SECURITY__API_TOKENS": msgspec.json.encode([TOKEN]).decode(),
            "WORLDGATE__SERVER__LOG_FORMAT": "json",
            "WORLDGATE__SERVER__LOG_LEVEL": "warning",
        }
        server = ServerProcess(env, log_path=Path(tmp) / "server.log")
        server.start()
        process = server.proc
        assert process is not None
        try:
            server.wait_ready(timeout=60)
            rss_start = _rss_bytes(process.pid)
            load_before = os.getloadavg()[0]
            result = asyncio.run(_drive(server.port, process.pid, seconds, warmup))
            result["load"] = (load_before, os.getloadavg()[0])
        finally:
            server.stop(timeout=60)  # SIGTERM: the graceful shutdown is part of the soak
        exit_code = process.returncode
        server_log = server.log_path.read_text(errors="replace")
    _report(result, rss_start, exit_code, server_log, seconds)


def _report(
    result: dict[str, Any], rss_start: int, exit_code: int, server_log: str, seconds: float
) -> None:
    stats: Stats = result["stats"]
    mib = 1024 * 1024
    all_latency = [x for values in stats.latency.values() for x in values]
    errors = sum(stats.errors.values())
    growth = (result["rss_end"] - result["rss_warm"]) / result["rss_warm"] * 100
    print(
        f"duration {seconds:.0f} s (wall {result['wall']:.0f} s), "
        f"{result['concurrency']} HTTP workers, {result['n_ws']} WebSocket clients, "
        f"{result['n_positions']} positions per request"
    )
    before, after = result["load"]
    print(f"load average (1 min) before {before:.1f}, at the end {after:.1f}")
    print(f"requests {result['total']}, throughput after warm-up {result['throughput']:.1f} req/s")
    print(
        f"latency all: p50 {_percentile(all_latency, 0.5) * 1000:.1f} ms, "
        f"p99 {_percentile(all_latency, 0.99) * 1000:.1f} ms"
    )
    for kind in sorted(stats.latency):
        values = stats.latency[kind]
        print(
            f"  {kind:8s} n={len(values):7d} p50 {_percentile(values, 0.5) * 1000:7.1f} ms "
            f"p99 {_percentile(values, 0.99) * 1000:7.1f} ms errors {stats.errors.get(kind, 0)}"
        )
    print(f"errors {errors} (websocket {stats.ws_errors})")
    for sample in stats.error_samples:
        print(f"  e.g. {sample}")
    # The clients take the default subscription, which leaves out the `audit` topic.
    published = _metric_total(result["metrics"], "worldgate_events_published_total") - (
        _metric_total(result["metrics"], 'worldgate_events_published_total{topic="audit"}')
    )
    expected = int(published) * result["n_ws"]
    print(
        f"websocket: {stats.ws_messages} messages, {stats.ws_events} events received of "
        f"{expected} expected ({int(published)} published x {result['n_ws']} clients), "
        f"lag frames {stats.ws_lag_frames}"
    )
    print(
        f"server RSS: start {rss_start / mib:.1f} MiB, after warm-up "
        f"{result['rss_warm'] / mib:.1f} MiB, end {result['rss_end'] / mib:.1f} MiB "
        f"(growth after warm-up {growth:+.1f}%, limit +10%)"
    )
    trace = ", ".join(f"{t:.0f}s {rss / mib:.1f}" for t, rss in result["rss_trace"])
    print(f"server RSS trace (MiB): {trace}")
    print(f"server exit code after SIGTERM: {exit_code}")
    for line in _metric_lines(
        result["metrics"],
        ("worldgate_plan", "worldgate_events", "worldgate_outbox", "worldgate_executions"),
    ):
        if "_created" not in line:
            print(f"  {line}")
    problems = [line for line in server_log.splitlines() if '"level": "error"' in line]
    print(f"server error log lines: {len(problems)}")
    for line in problems[:5]:
        print(f"  {line[:300]}")
    verdict = errors == 0 and growth < 10.0 and exit_code == 0 and stats.ws_events == expected
    print(f"soak {'PASSED' if verdict else 'FAILED'}")
