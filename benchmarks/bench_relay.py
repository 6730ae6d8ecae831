"""Relay benchmark: 100 WebSocket clients on ``WS /events`` while events are recorded at fixed
rates; before (a baseline commit) and after (this checkout), interleaved rate by rate.

Each server is the real app under uvicorn in a subprocess on a loopback port (SQLite store,
in-memory ControlBus, permessage-deflate off as ``worldgate serve`` runs it). Inside it a
bench-only task records ``rebalancing_orders`` events (~200 B) in the store every 10 ms (one
durable transaction holding the events due by then, each stamped with the wall-clock time
just before its commit) and nudges the outbox, exactly as a use case does. The events then
take the production path: commit → outbox → ControlBus → relay → per-client queue →
WebSocket. The parent process holds 100 lean WebSocket clients per server (a few-line frame
parser, so the load generator does not starve the server of the 2 shared cores) and records
receive time − stamp for every message; it also checks that each client's ``seq`` only grows.

"Before" is the code of ``BASELINE`` (or ``--baseline REF``): its ``app`` and ``config`` are
exported with ``git archive`` into a temporary folder and served from there with this
benchmark's server code. Skipped when git or the commit is not available.

Run alone: ``python -m benchmarks relay`` (or ``python -m benchmarks.bench_relay``).
"""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.baseline import export_baseline

__all__ = ["main"]

#: The commit "before" is measured at: main before the log-following relay (issue 15/14).
BASELINE = "c95e50d"
CLIENTS = 100
RATES = (100, 200, 300, 500, 750, 1000, 1250, 1500, 2000)  # events recorded per second
SECONDS = 4.0  # measured seconds per window
REPEATS = 3  # windows per rate and server, interleaved; a row shows their medians
SETTLE = 10.0  # most seconds to wait for in-flight messages after recording stops
SATURATED_MS = 500.0  # a p99 above this (or a loss): higher rates are not tried
P99_TARGET_MS = 50.0
TICK = 0.01  # seconds between commits of the bench recorder
ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- server side


async def _serve() -> None:
    """Subprocess entry: run the app, then record events at the rates asked for on stdin."""
    import uvicorn

    from app.container import build_container
    from app.main import create_app
    from app.runtime.logging import configure_logging
    from app.runtime.serving import GracefulServer
    from app.settings import load_settings
    from app.testing import serve_in_task, tcp_listener

    configure_logging("console", "warning", stream=sys.stderr)  # stdout talks to the parent
    tmp = tempfile.mkdtemp(prefix="bench-relay-")
    settings = load_settings(
        environ={},
        overrides={
            "store": {"sqlite_path": os.path.join(tmp, "db.sqlite3")},
            "server": {"log_level": "warning"},
        },
    )
    container = build_container(settings)
    try:  # the WebSocket protocol `worldgate serve` uses (the baseline has none of its own)
        from app.runtime.ws_protocol import CoalescingWebSocketProtocol

        ws: Any = CoalescingWebSocketProtocol
    except ImportError:
        ws = "auto"
    config = uvicorn.Config(
        create_app(container=container),
        log_level="warning",
        access_log=False,
        lifespan="on",
        ws=ws,
        ws_per_message_deflate=False,
    )
    server = GracefulServer(config, container.drain(), grace_seconds=5.0)
    sock = tcp_listener(reuse_address=True)  # IPPROTO_TCP: TCP_NODELAY on accepted sockets
    try:
        async with serve_in_task(server, sock):
            await _record_on_request(container, sock.getsockname()[1])
    finally:
        sock.close()
        shutil.rmtree(tmp, ignore_errors=True)


async def _record_on_request(container: Any, port: int) -> None:
    """Print the port, then record events at each ``record <per second> <seconds>`` line."""
    from app.contracts.events import REBALANCING_ORDERS, new_event
    from app.store.ports import ExecutionRecord

    store, outbox = container.store(), container.outbox_publisher()
    print(f"BENCH port {port}", flush=True)
    loop = asyncio.get_running_loop()
    batch = 0
    while True:
        line = (await loop.run_in_executor(None, sys.stdin.readline)).split()
        if not line or line[0] == "quit":
            break
        rate, seconds = float(line[1]), float(line[2])
        total, sent, commits = int(rate * seconds), 0, 0
        committed: dict[int, tuple[float, float]] = {}
        start = time.perf_counter()
        while sent < total:
            due = min(total, int((time.perf_counter() - start) * rate) + 1)
            if due > sent:
                stamp = time.time()
                batch += 1
                events = [
                    new_event(
                        REBALANCING_ORDERS,
                        "bench",
                        {"b": batch, "world_id": f"w{i % 10}", "n": i, "sent_at": stamp},
                        subject=f"w{i % 10}",
                    )
                    for i in range(sent, due)
                ]
                record = ExecutionRecord(
                    execution_id=f"bench-{batch}", request_hash="h", response=b"{}",
                    batch_ids=[], world_ids=[], created_at=stamp,
                )
                await store.save_execution(record, events)
                committed[batch] = (stamp, time.time())
                outbox.nudge()
                sent, commits = due, commits + 1
            await asyncio.sleep(max(0.0, start + commits * TICK - time.perf_counter()))
        print(f"BENCH committed {json.dumps(committed)}", flush=True)
        print(f"BENCH recorded {total} {time.perf_counter() - start:.3f} {commits}", flush=True)


# --------------------------------------------------------------------------- client side


@dataclass
class _Stats:
    received: list[tuple[int, float]] = field(default_factory=list)  # (batch, receive time)
    lagged: int = 0
    disorder: int = 0  # a seq not greater than the one before it, on one connection
    ready: int = 0


def _number(payload: bytes, key: bytes) -> bytes:
    start = payload.index(key) + len(key)
    end = start
    while payload[end] not in b",}":
        end += 1
    return payload[start:end]


class _Client(asyncio.Protocol):
    """A minimal WebSocket client: handshake, unmasked server frames, pong on ping."""

    def __init__(self, port: int, stats: _Stats, ready: asyncio.Event) -> None:
        self.port, self.stats, self.ready = port, stats, ready
        self.buffer = b""
        self.open = False
        self.last_seq = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            (
                f"GET /events HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )

    def data_received(self, data: bytes) -> None:
        now = time.time()
        buf = self.buffer + data
        pos = 0
        if not self.open:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.buffer = buf
                return
            assert buf.startswith(b"HTTP/1.1 101"), buf[:100]
            self.open, pos = True, end + 4
        size = len(buf)
        stats = self.stats
        while size - pos >= 2:
            opcode, length = buf[pos] & 0x0F, buf[pos + 1] & 0x7F
            head = 2
            if length == 126:
                if size - pos < 4:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
            elif length == 127:
                if size - pos < 10:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            if size - pos < head + length:
                break
            payload = buf[pos + head : pos + head + length]
            pos += head + length
            if opcode == 0x1:
                if payload.startswith(b'{"id"'):
                    stats.received.append((int(_number(payload, b'"b":')), now))
                    seq = int(_number(payload, b'"seq":'))
                    if seq <= self.last_seq:
                        stats.disorder += 1
                    self.last_seq = seq
                elif payload.startswith(b'{"type":"lagged"'):
                    stats.lagged += int(_number(payload, b'"count":'))
                elif payload.startswith(b'{"type":"subscribed"'):
                    stats.ready += 1
                    if stats.ready == CLIENTS:
                        self.ready.set()
            elif opcode == 0x9 and self.transport is not None:  # ping: answer a masked pong
                mask = os.urandom(4)
                masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
                self.transport.write(bytes([0x8A, 0x80 | len(payload)]) + mask + masked)
        self.buffer = buf[pos:]


@dataclass
class _Server:
    """One server subprocess (``label``: before/after) and its 100 clients."""

    label: str
    proc: subprocess.Popen[str]
    port: int = 0
    stats: _Stats = field(default_factory=_Stats)
    transports: list[asyncio.BaseTransport] = field(default_factory=list)
    rows: list[dict[str, float]] = field(default_factory=list)
    saturated: bool = False


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


async def _connect(server: _Server) -> None:
    loop = asyncio.get_running_loop()
    ready = asyncio.Event()
    for _ in range(CLIENTS):
        transport, _ = await loop.create_connection(
            lambda: _Client(server.port, server.stats, ready), "127.0.0.1", server.port
        )
        server.transports.append(transport)
    await asyncio.wait_for(ready.wait(), 60)


async def _measure(server: _Server, rate: float) -> dict[str, float]:
    """Record at ``rate`` on ``server`` for ``SECONDS`` and collect what its clients got."""
    proc, stats = server.proc, server.stats
    assert proc.stdin is not None and proc.stdout is not None
    stats.received.clear()
    stats.lagged = stats.disorder = 0
    server_cpu, client_cpu = _cpu_seconds(proc.pid), _cpu_seconds()
    proc.stdin.write(f"record {rate} {SECONDS}\n")
    proc.stdin.flush()
    loop = asyncio.get_running_loop()
    committed: dict[int, list[float]] = {}  # batch -> [stamp before commit, commit returned]
    while not (line := await loop.run_in_executor(None, proc.stdout.readline)).startswith(
        "BENCH recorded"
    ):
        if not line:
            raise RuntimeError(f"the {server.label} server exited")
        if line.startswith("BENCH committed "):
            committed = {int(k): v for k, v in json.loads(line.split(" ", 2)[2]).items()}
    recorded, took, commits = int(line.split()[2]), float(line.split()[3]), int(line.split()[4])
    expected = recorded * CLIENTS
    deadline = time.monotonic() + SETTLE
    while len(stats.received) + stats.lagged < expected:  # noqa: ASYNC110
        if time.monotonic() > deadline:  # polling a counter the clients bump
            break
        await asyncio.sleep(0.05)
    received = [(committed[b], now) for b, now in stats.received if b in committed]
    got = [(now - stamps[0]) * 1000.0 for stamps, now in received]
    relay = [(now - stamps[1]) * 1000.0 for stamps, now in received]
    return {
        "rate": rate,
        "recorded": recorded,
        "commits": commits,
        "seconds": took,
        "delivered": len(got),
        "expected": expected,
        "lagged": stats.lagged,
        "disorder": stats.disorder,
        "delivered_per_s": len(got) / took,
        "p50": statistics.median(got) if got else float("nan"),
        "p99": _percentile(got, 0.99),
        "max": max(got) if got else float("nan"),
        "relay_p50": statistics.median(relay) if relay else float("nan"),
        "relay_p99": _percentile(relay, 0.99),
        "server_us": (_cpu_seconds(proc.pid) - server_cpu) / max(1, len(got)) * 1e6,
        "client_us": (_cpu_seconds() - client_cpu) / max(1, len(got)) * 1e6,
    }


def _start(label: str, cwd: Path) -> _Server:
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.bench_relay", "--serve"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=cwd,
        env={k: v for k, v in os.environ.items() if not k.startswith("WORLDGATE__")},
    )
    assert proc.stdout is not None
    while not (line := proc.stdout.readline()).startswith("BENCH port"):
        if not line:
            raise RuntimeError(f"the {label} server did not start")
    return _Server(label, proc, int(line.split()[2]))


def _stop(server: _Server) -> None:
    proc = server.proc
    if proc.poll() is None and proc.stdin is not None:
        proc.stdin.write("quit\n")
        proc.stdin.flush()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def _compare(servers: list[_Server]) -> None:
    # The clients keep every receive time (up to millions of tuples): a full collection of
    # this process would pause the readers and show up as server latency. Nothing here
    # makes reference cycles, so the collector is off while measuring.
    gc.collect()
    gc.disable()
    try:
        for server in servers:
            await _connect(server)
        for rate in RATES:
            windows: dict[str, list[dict[str, float]]] = {s.label: [] for s in servers}
            for _ in range(REPEATS):
                for server in servers:  # interleaved: the machine's load hits both alike
                    if not server.saturated:
                        windows[server.label].append(await _measure(server, rate))
            for server in servers:
                if not windows[server.label]:
                    continue
                row = _merge(windows[server.label])
                server.rows.append(row)
                lost = row["delivered"] + row["lagged"] < row["expected"]
                if row["p99"] > SATURATED_MS or lost:
                    server.saturated = True  # a backlog would spill into the next rate
            if all(s.saturated for s in servers):
                break
    finally:
        gc.enable()
        for server in servers:
            for transport in server.transports:
                transport.close()
        await asyncio.sleep(0.1)


_SUMMED = ("recorded", "commits", "delivered", "expected", "lagged", "disorder")


def _merge(windows: list[dict[str, float]]) -> dict[str, float]:
    """One row for a rate: counts summed over the windows, every other figure their median
    (a single stall of the shared machine then moves the p99 of one window, not the row)."""
    return {
        key: sum(w[key] for w in windows) if key in _SUMMED
        else statistics.median(w[key] for w in windows)
        for key in windows[0]
    }


def _sustained(rows: list[dict[str, float]], key: str, target: float = P99_TARGET_MS) -> float:
    """The highest rate with ``key`` (a p99) under ``target``, nothing lost, all in order."""
    ok = [
        r["rate"] for r in rows
        if r[key] < target and r["delivered"] == r["expected"] and not r["disorder"]
    ]
    return max(ok, default=0.0)


def _report(server: _Server) -> None:
    print(f"\n{server.label}")
    print(
        "rate/s  msgs/s  delivered/expected  lagged  disorder  relay p50/p99 ms"
        "  end-to-end p50/p99/max ms  server us/msg  client us/msg"
    )
    for r in server.rows:
        print(
            f"{r['rate']:>6.0f}  {r['delivered_per_s']:>7,.0f}  "
            f"{r['delivered']:>8.0f}/{r['expected']:<9.0f}  {r['lagged']:>6.0f}  "
            f"{r['disorder']:>8.0f}  {r['relay_p50']:>7.1f}/{r['relay_p99']:<7.1f}"
            f"  {r['p50']:>9.1f}/{r['p99']:.1f}/{r['max']:<7.1f}"
            f"  {r['server_us']:>13.1f}  {r['client_us']:>13.1f}"
        )
    print(
        f"highest rate with p99 < {P99_TARGET_MS:g} ms, nothing lost, in order: "
        f"{_sustained(server.rows, 'relay_p99'):g} events/s (relay: commit → client), "
        f"{_sustained(server.rows, 'p99'):g} events/s (end to end: before commit → client)"
    )


async def _relay_core(events: int = 5_000) -> tuple[float, float]:
    """The relay alone, no sockets: read ``events`` stored events from a SQLite log and fan
    them out to 100 client queues drained by 100 tasks. Returns (seconds, deliveries/s)."""
    from app.contracts.events import REBALANCING_ORDERS, new_event
    from app.controlbus.adapters.memory import MemoryControlBus
    from app.gateway.event_views import SubscriptionSpec
    from app.gateway.relay import ClientQueue, EventRelay
    from app.settings import RelaySettings
    from app.store.adapters.sqlite import SqliteStore
    from app.store.ports import ExecutionRecord

    tmp = tempfile.mkdtemp(prefix="bench-relay-core-")
    store = SqliteStore(Path(tmp) / "core.sqlite3")
    await store.start()
    relay = EventRelay(
        MemoryControlBus(), store, RelaySettings(client_buffer=events, poll_interval=3600)
    )
    await relay.start()
    queues = [relay.register(SubscriptionSpec()) for _ in range(CLIENTS)]
    done = asyncio.Event()
    remaining = [CLIENTS]

    async def consume(queue: ClientQueue) -> None:
        got = 0
        while got < events:
            item = await queue.next()
            if isinstance(item, list):
                got += len(item)
        remaining[0] -= 1
        if not remaining[0]:
            done.set()

    tasks = [asyncio.create_task(consume(q)) for q in queues]
    for chunk in range(0, events, 500):
        payload = [
            new_event(REBALANCING_ORDERS, "bench", {"world_id": f"w{i % 10}", "n": i})
            for i in range(chunk, chunk + 500)
        ]
        record = ExecutionRecord(
            execution_id=f"core-{chunk}", request_hash="h", response=b"{}", batch_ids=[],
            world_ids=[], created_at=0.0,
        )
        await store.save_execution(record, payload)
    started = time.perf_counter()
    await relay.catch_up()
    await done.wait()
    took = time.perf_counter() - started
    for queue in queues:
        relay.unregister(queue)
    await asyncio.gather(*tasks)
    await relay.close()
    await store.close()
    shutil.rmtree(tmp, ignore_errors=True)
    return took, events * CLIENTS / took


def main(baseline: str = BASELINE) -> None:
    """Measure before and after, interleaved rate by rate; print both tables."""
    load_before = os.getloadavg()[0]
    folder = export_baseline(baseline, "bench-relay-baseline-")
    servers: list[_Server] = []
    try:
        if folder is not None:
            servers.append(_start(f"before ({baseline})", folder))
        servers.append(_start("after (this checkout)", ROOT))
        asyncio.run(_compare(servers))
    finally:
        for server in servers:
            _stop(server)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    core_seconds, core_rate = asyncio.run(_relay_core())
    print(
        f"{CLIENTS} clients per server, {REPEATS} x {SECONDS:g} s windows per rate (medians),"
        " SQLite store, in-memory bus,"
    )
    print("~200 B rebalancing_orders events committed every 10 ms; permessage-deflate off;")
    print("latency: relay = client receive - commit returned; end to end = - stamp before commit")
    print(f"load average: {load_before:.1f} before; {load} (1/5/15 min) after; 2 cores")
    print(
        f"relay core alone (log → {CLIENTS} queues → {CLIENTS} in-process consumers, no "
        f"sockets): {core_rate:,.0f} deliveries/s ({core_seconds:.2f} s for 5,000 events)"
    )
    if folder is None:
        print(f"(baseline {baseline} not available: git or the commit is missing)")
    for server in servers:
        _report(server)
    if len(servers) == 2:
        print()
        for key, what, target in (
            ("relay_p99", "relay p99 < 50 ms", P99_TARGET_MS),
            ("p99", "end-to-end p99 < 50 ms", P99_TARGET_MS),
            ("p99", "capacity: end-to-end p99 < 500 ms", SATURATED_MS),
        ):
            before, after = (_sustained(s.rows, key, target) for s in servers)
            ratio = f"{after / before:.1f}x" if before else "n/a"
            print(f"highest rate ({what}), after / before: {after:g} / {before:g} = {ratio}")


if __name__ == "__main__":
    if "--serve" in sys.argv:
        asyncio.run(_serve())
    elif "--baseline" in sys.argv:
        main(sys.argv[sys.argv.index("--baseline") + 1])
    else:
        main()
