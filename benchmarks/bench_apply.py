"""Apply benchmark: applies/second with 1k-position bodies on SQLite over real HTTP (uvicorn
on loopback), and the end-to-end latency from sending an apply to its first
``rebalancing_planned`` event reaching a ControlBus subscriber in the server's process.

The server (uvicorn, the app, the outbox publisher, the subscriber) runs on this process's
event loop; the HTTP clients are separate processes (a client thread here would fight the
server for the GIL and triple the round trip). Send and delivery times are both read from
``time.monotonic()`` (CLOCK_MONOTONIC, one clock for every process of a Linux machine).

Group commit (issue 14, goal 2): applies/s with ``GC_CLIENTS`` concurrent clients (separate
processes, stdlib ``http.client`` keep-alive connections, bodies encoded beforehand) against
two server subprocesses, *before* (``BASELINE``: its ``app`` and ``config`` exported with
``git archive``) and *after* (this checkout), on SQLite (WAL, ``synchronous=FULL``) and on
PostgreSQL (when ``WORLDGATE_TEST_POSTGRES_DSN`` or ``WORLDGATE_BENCH_POSTGRES_DSN`` is set;
each server in a schema of its own), with the issue-3 body (1,000 positions) and a small one
(10 positions). Windows alternate before/after so both see the same machine; a row shows the
median window. Server CPU per apply is the server process's user + system time; commits are
the store's group commits (the baseline commits once per write).
Run alone: ``python -m benchmarks apply`` (``--baseline REF`` to compare with another ref).
"""

from __future__ import annotations

import json
import os
import random
import shutil
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
from benchmarks.baseline import export_baseline

POSITIONS = 1_000
WORLDS = 4
THROUGHPUT_CLIENTS = 4
THROUGHPUT_APPLIES = 150  # per client
LATENCY_APPLIES = 300
WARMUP = 20
REPO = Path(__file__).resolve().parent.parent

#: main before group commit (issue 14, goal 2).
BASELINE = "4948422"
GC_CLIENTS = 16
GC_BODIES = (1_000, 10)  # positions per apply body
GC_SECONDS = 6.0  # measured seconds per window
GC_REPEATS = 3  # windows per server and case, alternating before/after
GC_START_DELAY = 6.0  # seconds the client processes get to start before the window opens


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


# --------------------------------------------------------------- group commit (issue 14)


async def _gc_serve(backend: str, target: str) -> None:
    """Server subprocess: the app on ``backend`` (a file, or a DSN); answers stdin lines."""
    import asyncio

    configure_logging("console", "error", cache_loggers=False, stream=sys.stderr)
    store: dict[str, Any] = (
        {"sqlite_path": target} if backend == "sqlite"
        else {"backend": "postgres", "postgres_dsn": target}
    )
    settings = load_settings(
        environ={}, overrides={"store": store, "server": {"roles": ["worldservice"]}}
    )
    container = build_container(settings)
    sock = tcp_listener()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(container=container), lifespan="on", log_level="error",
            access_log=False, ws="none",
        )
    )
    loop = asyncio.get_running_loop()
    async with serve_in_task(server, sock):
        print(f"BENCH port {sock.getsockname()[1]}", flush=True)
        the_store = container.store()
        while True:
            line = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
            if line != "stats":
                break
            print(json.dumps({"commits": getattr(the_store, "commits", None)}), flush=True)
    sock.close()


class _GcServer:
    """A server subprocess of the comparison."""

    def __init__(self, label: str, cwd: Path, backend: str, target: str) -> None:
        self.label = label
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.bench_apply", "--gc-serve", backend, target],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=cwd,
            env={k: v for k, v in os.environ.items() if not k.startswith("WORLDGATE__")},
        )
        assert self.proc.stdout is not None
        while not (line := self.proc.stdout.readline()).startswith("BENCH port"):
            if not line:
                raise RuntimeError(f"the {label} server did not start")
        self.port = int(line.split()[2])

    def commits(self) -> int | None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("stats\n")
        self.proc.stdin.flush()
        commits: int | None = json.loads(self.proc.stdout.readline())["commits"]
        return commits

    def cpu(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None and self.proc.stdin is not None:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _gc_window(server: _GcServer, positions: int, tag: str) -> dict[str, float]:
    """One measured window: ``GC_CLIENTS`` client processes for ``GC_SECONDS``."""
    body_file = Path(tempfile.mkdtemp(prefix="bench-apply-body-")) / "body.json"
    body_file.write_text(json.dumps(build_body(positions)))
    commits0, cpu0 = server.commits(), server.cpu()
    start_at = time.monotonic() + GC_START_DELAY
    until = start_at + GC_SECONDS
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "benchmarks.apply_client", str(server.port),
             f"{tag}-{server.label}-{c}", str(body_file), repr(start_at), repr(until)],
            cwd=REPO, stdout=subprocess.PIPE, text=True,
        )
        for c in range(GC_CLIENTS)
    ]
    reports = []
    for proc in procs:
        out, _ = proc.communicate(timeout=GC_START_DELAY + GC_SECONDS + 120)
        if proc.returncode != 0:
            raise RuntimeError(f"a client failed against {server.label}: {out[-300:]}")
        reports.append(json.loads(out.strip().splitlines()[-1]))
    commits1, cpu1 = server.commits(), server.cpu()
    shutil.rmtree(body_file.parent, ignore_errors=True)
    applies = sum(r["done"] for r in reports)
    elapsed = max(r["end"] for r in reports) - start_at
    return {
        "per_s": applies / elapsed,
        "applies": applies,
        "cpu_ms": (cpu1 - cpu0) / max(1, applies) * 1e3,
        "cpu_share": (cpu1 - cpu0) / elapsed,
        "per_commit": (
            applies / (commits1 - commits0)
            if commits0 is not None and commits1 is not None and commits1 > commits0
            else 1.0
        ),
        "late": max(r["late"] for r in reports),
    }


async def _store_only(backend: str, target: str, writers: int, seconds: float) -> dict[str, Any]:
    """``writers`` tasks saving plans (4 events each) back to back on one store, no HTTP."""
    from app.contracts.events import EVENT_SOURCE_WORLDSERVICE, new_event
    from app.store.ports import StoredPlan

    if backend == "sqlite":
        from app.store.adapters.sqlite import SqliteStore

        store: Any = SqliteStore(target)
    else:
        from app.store.adapters.postgres import PostgresStore

        store = PostgresStore(target, pool_size=max(10, writers))
    await store.start()
    done = [0]
    until = time.monotonic() + seconds

    async def writer(w: int) -> None:
        i = 0
        while time.monotonic() < until:
            run_id = f"s{w}-{i}"
            events = [
                new_event(REBALANCING_PLANNED, EVENT_SOURCE_WORLDSERVICE,
                          {"world_id": f"world-{k}", "run_id": run_id}, subject=f"world-{k}")
                for k in range(WORLDS)
            ]
            plan = StoredPlan(
                run_id=run_id, request_hash="h", schema_version=1,
                world_ids=[f"world-{k}" for k in range(WORLDS)], response=b"{}" * 200,
                event_ids=[e.id for e in events], created_at=time.time(),
            )
            await store.save_plan(plan, events)
            done[0] += 1
            i += 1

    cpu0 = time.process_time()
    commits0 = getattr(store, "commits", None)
    started = time.monotonic()
    async with anyio.create_task_group() as tg:
        for w in range(writers):
            tg.start_soon(writer, w)
    elapsed = time.monotonic() - started
    commits1 = getattr(store, "commits", None)
    cpu = time.process_time() - cpu0
    await store.close()
    return {
        "per_s": done[0] / elapsed,
        "cpu_ms": cpu / max(1, done[0]) * 1e3,
        "per_commit": (done[0] / (commits1 - commits0)
                       if commits0 is not None and commits1 and commits1 > commits0 else 1.0),
    }


def _store_only_window(cwd: Path, backend: str, target: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_apply", "--store-only", backend, target,
         str(GC_CLIENTS), str(GC_SECONDS)],
        cwd=cwd, capture_output=True, text=True, timeout=GC_SECONDS + 120,
        env={k: v for k, v in os.environ.items() if not k.startswith("WORLDGATE__")},
    )
    if done.returncode != 0:
        raise RuntimeError(f"store-only run failed: {done.stderr[-500:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _pg_schemas(dsn: str, names: list[str], create: bool) -> None:
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            for name in names:
                await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
                if create:
                    await conn.execute(f'CREATE SCHEMA "{name}"')
        finally:
            await conn.close()

    anyio.run(run)


def _with_search_path(dsn: str, schema: str) -> str:
    return f"{dsn}{'&' if '?' in dsn else '?'}search_path={schema}"


def group_commit(baseline: str = BASELINE) -> None:
    """Print the before/after table of applies/s with ``GC_CLIENTS`` concurrent clients."""
    folder = export_baseline(baseline, "bench-apply-baseline-")
    dsn = (os.environ.get("WORLDGATE_BENCH_POSTGRES_DSN")
           or os.environ.get("WORLDGATE_TEST_POSTGRES_DSN"))
    backends = ["sqlite"] + (["postgres"] if dsn else [])
    load = os.getloadavg()[0]
    print(f"\ngroup commit: {GC_CLIENTS} client processes, {GC_SECONDS:g} s windows x "
          f"{GC_REPEATS} per server, before = {baseline}, load average {load:.1f} at start")
    if folder is None:
        print(f"(baseline {baseline} not available: git or the commit is missing)")
    print("| backend | body | server | applies/s | server CPU ms/apply | server CPU cores |"
          " applies/commit | clients late (s) |")
    print("|---|---|---|---|---|---|---|---|")
    tmp = Path(tempfile.mkdtemp(prefix="bench-apply-gc-"))
    try:
        for backend in backends:
            schemas = [f"bench_gc_before_{os.getpid()}", f"bench_gc_after_{os.getpid()}"]
            if backend == "postgres":
                assert dsn is not None
                _pg_schemas(dsn, schemas, create=True)
            targets = (
                [str(tmp / "before.sqlite3"), str(tmp / "after.sqlite3")]
                if backend == "sqlite" else [_with_search_path(str(dsn), s) for s in schemas]
            )
            labels = (["before", "after"] if folder is not None else ["after"])
            cwds = {"before": folder or REPO, "after": REPO}
            servers = [
                _GcServer(label, cwds[label], backend, targets[0 if label == "before" else 1])
                for label in labels
            ]
            try:
                store_windows: dict[str, list[dict[str, float]]] = {s.label: [] for s in servers}
                for r in range(GC_REPEATS):
                    for server in servers:
                        scratch = f"{schemas[0]}_s{r}{server.label}"
                        target = (str(tmp / f"store-{server.label}-{r}.sqlite3")
                                  if backend == "sqlite"
                                  else _with_search_path(str(dsn), scratch))
                        if backend == "postgres":
                            _pg_schemas(str(dsn), [scratch], True)
                        store_windows[server.label].append(
                            _store_only_window(cwds[server.label], backend, target))
                        if backend == "postgres":
                            _pg_schemas(str(dsn), [scratch], False)
                for server in servers:
                    rows = sorted(store_windows[server.label], key=lambda w: w["per_s"])
                    mid = rows[len(rows) // 2]
                    each = ", ".join(f"{w['per_s']:.0f}" for w in store_windows[server.label])
                    print(f"| {backend} | store only, no HTTP | {server.label} | "
                          f"{mid['per_s']:.1f} ({each}) | {mid['cpu_ms']:.2f} | - | "
                          f"{mid['per_commit']:.1f} | - |", flush=True)
                for positions in GC_BODIES:
                    windows: dict[str, list[dict[str, float]]] = {s.label: [] for s in servers}
                    for r in range(GC_REPEATS):
                        for server in servers:
                            tag = f"{backend}-{positions}-{r}"
                            windows[server.label].append(_gc_window(server, positions, tag))
                    for server in servers:
                        rows = sorted(windows[server.label], key=lambda w: w["per_s"])
                        mid = rows[len(rows) // 2]
                        each = ", ".join(f"{w['per_s']:.0f}" for w in windows[server.label])
                        print(f"| {backend} | {positions} positions | {server.label} | "
                              f"{mid['per_s']:.1f} ({each}) | {mid['cpu_ms']:.2f} | "
                              f"{mid['cpu_share']:.2f} | {mid['per_commit']:.1f} | "
                              f"{max(w['late'] for w in windows[server.label]):.1f} |",
                              flush=True)
            finally:
                for server in servers:
                    server.stop()
                if backend == "postgres":
                    _pg_schemas(str(dsn), schemas, create=False)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


def main(baseline: str = BASELINE) -> None:
    """Print applies/second and apply→event latency percentiles, then the group-commit
    before/after comparison."""
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
    group_commit(baseline)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--client":
        client_main(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif len(sys.argv) == 6 and sys.argv[1] == "--store-only":
        print(json.dumps(anyio.run(_store_only, sys.argv[2], sys.argv[3], int(sys.argv[4]),
                                   float(sys.argv[5]))))
    elif len(sys.argv) == 4 and sys.argv[1] == "--gc-serve":
        anyio.run(_gc_serve, sys.argv[2], sys.argv[3])
    elif "--gc-only" in sys.argv:
        configure_logging("console", "error", cache_loggers=False)
        group_commit(sys.argv[sys.argv.index("--baseline") + 1] if "--baseline" in sys.argv
                     else BASELINE)
    elif "--baseline" in sys.argv:
        main(sys.argv[sys.argv.index("--baseline") + 1])
    else:
        main()
