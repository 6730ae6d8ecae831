"""Relay benchmark: 100 WebSocket clients on ``WS /events`` while events flow at fixed rates.

The server is the real app under uvicorn in a subprocess on a loopback port. Inside that
process a bench-only publisher puts events on the app's ControlBus at a fixed rate, each
carrying its publish time (``data.sent_at``, wall clock). The parent process holds 100
``websockets`` clients and records, for every message, receive time − publish time.

What is measured: ControlBus (in-memory) → relay → per-client queue → WebSocket → client
parse, i.e. the relay path alone. Not measured: the store and outbox hop that applied plans
take before reaching the bus. Both processes
share the machine's 2 cores, so the client side's own CPU use is part of the latency.

Run alone: ``python -m benchmarks relay`` (or ``python -m benchmarks.bench_relay``).
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["main"]

CLIENTS = 100
RATES = (10, 20, 35, 50, 75, 100, 150, 200, 300)  # events published per second
SECONDS = 6.0  # measured seconds per rate
SETTLE = 10.0  # most seconds to wait for in-flight messages after publishing stops
SATURATED_MS = 500.0  # a p99 above this: higher rates are not tried
P99_TARGET_MS = 50.0


# --------------------------------------------------------------------------- server side


async def _serve(deflate: bool) -> None:
    """Subprocess entry: run the app, then publish at the rates asked for on stdin."""
    import uvicorn

    from app.container import build_container
    from app.main import create_app
    from app.runtime.serving import GracefulServer
    from app.settings import load_settings
    from app.testing import serve_in_task, tcp_listener

    tmp = tempfile.mkdtemp(prefix="bench-relay-")
    settings = load_settings(
        environ={},
        overrides={
            "store": {"sqlite_path": os.path.join(tmp, "db.sqlite3")},
            "server": {"log_level": "warning"},
        },
    )
    container = build_container(settings)
    config = uvicorn.Config(
        create_app(container=container),
        log_level="warning",
        access_log=False,
        lifespan="on",
        ws_per_message_deflate=deflate,
    )
    server = GracefulServer(config, container.drain(), grace_seconds=5.0)
    sock = tcp_listener(reuse_address=True)  # IPPROTO_TCP: TCP_NODELAY on accepted sockets
    try:
        async with serve_in_task(server, sock):
            await _publish_on_request(container.controlbus(), sock.getsockname()[1])
    finally:
        sock.close()


async def _publish_on_request(bus: Any, port: int) -> None:
    """Print the port, then publish at each ``rate <per second> <seconds>`` read from stdin."""
    from app.contracts.events import REBALANCING_PLANNED, new_event

    print(f"BENCH port {port}", flush=True)
    loop = asyncio.get_running_loop()
    while True:
        line = (await loop.run_in_executor(None, sys.stdin.readline)).split()
        if not line or line[0] == "quit":
            break
        rate, seconds = float(line[1]), float(line[2])
        interval, total = 1.0 / rate, int(rate * seconds)
        start = time.perf_counter()
        for i in range(total):
            delay = start + i * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            data = {"world_id": f"w{i % 10}", "n": i, "sent_at": time.time()}
            await bus.publish(REBALANCING_PLANNED, new_event(REBALANCING_PLANNED, "bench", data))
        print(f"BENCH published {total} {time.perf_counter() - start:.3f}", flush=True)


# --------------------------------------------------------------------------- client side


@dataclass
class _Stats:
    latencies_ms: list[float] = field(default_factory=list)
    lagged: int = 0


async def _client(url: str, stats: _Stats, ready: asyncio.Event, counter: list[int]) -> None:
    import websockets

    async with websockets.connect(url, max_size=None) as ws:
        await ws.recv()  # the `subscribed` frame
        counter[0] += 1
        if counter[0] == CLIENTS:
            ready.set()
        async for raw in ws:
            now = time.time()
            message = json.loads(raw)
            if "id" in message:
                stats.latencies_ms.append((now - message["data"]["sent_at"]) * 1000.0)
            elif message.get("type") == "lagged":
                stats.lagged += message["count"]


def _cpu_seconds(pid: int | None = None) -> float:
    """CPU seconds (user + system) used so far by process ``pid`` (this one when None)."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _measure(proc: subprocess.Popen[str], port: int) -> list[dict[str, float]]:
    assert proc.stdin is not None and proc.stdout is not None
    stats = _Stats()
    ready, counter = asyncio.Event(), [0]
    url = f"ws://127.0.0.1:{port}/events"
    tasks = [asyncio.create_task(_client(url, stats, ready, counter)) for _ in range(CLIENTS)]
    await asyncio.wait_for(ready.wait(), 60)
    loop = asyncio.get_running_loop()
    rows: list[dict[str, float]] = []
    for rate in RATES:
        stats.latencies_ms.clear()
        stats.lagged = 0
        server_cpu, client_cpu = _cpu_seconds(proc.pid), _cpu_seconds()
        proc.stdin.write(f"publish {rate} {SECONDS}\n")
        proc.stdin.flush()
        while not (line := await loop.run_in_executor(None, proc.stdout.readline)).startswith(
            "BENCH published"
        ):
            if not line:
                raise RuntimeError("the server exited")
        published, took = int(line.split()[2]), float(line.split()[3])
        expected = published * CLIENTS
        deadline = time.monotonic() + SETTLE
        while len(stats.latencies_ms) + stats.lagged < expected:  # noqa: ASYNC110
            if time.monotonic() > deadline:  # polling a counter the clients bump
                break
            await asyncio.sleep(0.05)
        got = list(stats.latencies_ms)
        server_cpu = _cpu_seconds(proc.pid) - server_cpu
        client_cpu = _cpu_seconds() - client_cpu
        rows.append(
            {
                "rate": rate,
                "published": published,
                "publish_seconds": took,
                "delivered": len(got),
                "expected": expected,
                "lagged": stats.lagged,
                "delivered_per_s": len(got) / took,
                "p50": statistics.median(got) if got else float("nan"),
                "p99": _percentile(got, 0.99),
                "max": max(got) if got else float("nan"),
                "server_us": server_cpu / max(1, len(got)) * 1e6,
                "client_us": client_cpu / max(1, len(got)) * 1e6,
            }
        )
        if rows[-1]["p99"] > SATURATED_MS or len(got) < expected:
            break  # saturated: a backlog would spill into the next rate's figures
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return rows


def _run(deflate: bool) -> list[dict[str, float]]:
    """One server subprocess, all rates."""
    command = [sys.executable, "-m", "benchmarks.bench_relay", "--serve"]
    if not deflate:
        command.append("--no-deflate")
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdin is not None
        while not (line := proc.stdout.readline()).startswith("BENCH port"):
            if not line:
                raise RuntimeError("the server did not start")
        rows = asyncio.run(_measure(proc, int(line.split()[2])))
        proc.stdin.write("quit\n")
        proc.stdin.flush()
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return rows


def _report(title: str, rows: list[dict[str, float]]) -> None:
    print(f"\n{title}")
    print(
        "rate/s  delivered/s  delivered/expected  lagged  p50 ms  p99 ms  max ms"
        "  server CPU us/msg  client CPU us/msg"
    )
    sustained = 0.0
    for r in rows:
        print(
            f"{r['rate']:>6.0f}  {r['delivered_per_s']:>11.0f}  "
            f"{r['delivered']:>8.0f}/{r['expected']:<8.0f}  {r['lagged']:>6.0f}  "
            f"{r['p50']:>6.1f}  {r['p99']:>6.1f}  {r['max']:>6.1f}"
            f"  {r['server_us']:>17.0f}  {r['client_us']:>17.0f}"
        )
        if r["p99"] < P99_TARGET_MS and r["delivered"] == r["expected"]:
            sustained = max(sustained, r["rate"])
    print(f"highest rate with p99 < {P99_TARGET_MS:g} ms and nothing lost: {sustained:g} events/s")


async def _relay_core(events: int = 5_000) -> tuple[float, float]:
    """The relay alone, no sockets: bus → dedupe → 100 client queues → 100 consumer tasks
    that encode each event (v1 view) and count it. Returns (seconds, events/s delivered)."""
    from app.contracts.events import REBALANCING_PLANNED, new_event
    from app.controlbus.adapters.memory import MemoryControlBus
    from app.gateway.event_views import EventFrame, SubscriptionSpec
    from app.gateway.relay import ClientQueue, EventRelay
    from app.settings import RelaySettings

    bus = MemoryControlBus(subscriber_buffer=events)
    relay = EventRelay(bus, RelaySettings(client_buffer=events), close_grace=0.1)
    await relay.start()
    queues = [relay.register(SubscriptionSpec()) for _ in range(CLIENTS)]
    done = asyncio.Event()
    remaining = [CLIENTS]

    async def consume(queue: ClientQueue) -> None:
        got = 0
        while got < events:
            item = await queue.next()
            if isinstance(item, EventFrame):
                item.encoded(1)
                got += 1
        remaining[0] -= 1
        if not remaining[0]:
            done.set()

    tasks = [asyncio.create_task(consume(q)) for q in queues]
    payload = [
        new_event(REBALANCING_PLANNED, "bench", {"world_id": f"w{i % 10}", "n": i})
        for i in range(events)
    ]
    started = time.perf_counter()
    for event in payload:
        await bus.publish(REBALANCING_PLANNED, event)
        await asyncio.sleep(0)  # let the relay task take it, as a real publisher would
    await done.wait()
    took = time.perf_counter() - started
    for queue in queues:
        relay.unregister(queue)
    await asyncio.gather(*tasks)
    await relay.close()
    return took, events * CLIENTS / took


def main() -> None:
    """Run the rates against a server with and without permessage-deflate; print tables."""
    load_before = os.getloadavg()[0]
    default = _run(deflate=True)
    plain = _run(deflate=False)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    core_seconds, core_rate = asyncio.run(_relay_core())
    print(f"{CLIENTS} clients, {SECONDS:g} s per rate, in-memory bus, events ~200 B")
    print(f"load average: {load_before:.1f} before; {load} (1/5/15 min) after; 2 cores")
    print(
        f"relay core alone (no sockets, {CLIENTS} in-process consumers): "
        f"{core_rate:,.0f} deliveries/s ({core_seconds:.2f} s for 5,000 events)"
    )
    _report("uvicorn defaults (permessage-deflate negotiated)", default)
    _report("permessage-deflate off (ws_per_message_deflate=False)", plain)


if __name__ == "__main__":
    if "--serve" in sys.argv:
        asyncio.run(_serve(deflate="--no-deflate" not in sys.argv))
    else:
        main()
