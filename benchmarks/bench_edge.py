"""HTTP edge benchmark (issue 14, goals 1 and 4): what a request costs the server process
against the same work done in-process, before (a baseline commit) and after (this checkout).

Two ``worldgate serve`` processes run at once, *before* (``BASELINE``'s ``app`` and ``config``
exported with ``git archive``, run with the dependencies that commit declared: uvloop and
httptools are hidden from it) and *after* (this checkout, as ``worldgate serve`` runs it).
Each scenario is measured in rounds that alternate between the two servers, so the shared
machine's load hits both alike; a figure is the median of the rounds.

*Server time* of a request = the server process's user + system CPU time (all its threads,
``/proc/PID/stat``) over a round divided by the requests of the round, the client being this
process (another process). *In-process* = this checkout's (or the baseline's, in a child
process run from the exported tree) typed decode + validate + plan + encode of the same body,
mean CPU time per call over the same number of calls.

Run alone: ``python -m benchmarks edge`` (``python -m benchmarks.bench_edge --baseline REF``).
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from app.testing import ServerProcess, free_port
from benchmarks.baseline import export_baseline

BASELINE = "4948422"
ROOT = Path(__file__).resolve().parent.parent
PLAN_PATH = "/worldservice/rebalancing/plan"
SIZES = (1_000, 20_000)
ROUNDS = 5
# Hides the server extras the baseline did not declare, so "before" runs as it shipped.
_HIDE = "import sys; sys.modules['uvloop'] = None; sys.modules['httptools'] = None; "
_SERVE = "from app.cli import main; main()"


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU seconds of process ``pid`` (all its threads; Linux ``/proc``)."""
    path = Path(f"/proc/{pid}/stat") if pid else Path("/proc/self/stat")
    fields = path.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of ``pid`` and its child processes (granian serves from a child)."""
    total = cpu_seconds(pid)
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        total += sum(tree_cpu_seconds(int(child)) for child in children)
    return total


def plan_body(n: int) -> bytes:
    """The benchmark request with ``n`` positions, encoded."""
    import msgspec

    from benchmarks.bench_planner import build_request

    return msgspec.json.encode(build_request(n))


def in_process(n: int, calls: int) -> dict[str, float]:
    """Mean CPU ms per call of decode, plan (validate included) and encode, and of the three
    in one call, for an ``n``-position request (the code of the current directory)."""
    import gc

    import msgspec

    from app.contracts.rebalancing import RebalanceRequest
    from app.worldservice.plans import build_plan_response

    body = plan_body(n)
    decoder = msgspec.json.Decoder(RebalanceRequest)
    decoded = decoder.decode(body)
    planned = build_plan_response(decoded, 1)

    def mean(fn: Callable[[], object]) -> float:
        fn()
        gc.collect()
        started = time.process_time()
        for _ in range(calls):
            fn()
        return (time.process_time() - started) / calls * 1e3

    return {
        "decode": mean(lambda: decoder.decode(body)),
        "plan": mean(lambda: build_plan_response(decoded, 1)),
        "encode": mean(lambda: msgspec.json.encode(planned)),
        "total": mean(lambda: msgspec.json.encode(build_plan_response(decoder.decode(body), 1))),
        "body_bytes": float(len(body)),
    }


@dataclass
class _Server:
    label: str
    process: ServerProcess
    rows: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    idle_rate: float = 0.0  # CPU seconds per second the server spends with no request

    @property
    def pid(self) -> int:
        assert self.process.proc is not None
        return self.process.proc.pid


def _request(conn: http.client.HTTPConnection, method: str, path: str,
             body: bytes | None) -> None:
    headers = {"content-type": "application/json"} if body is not None else {}
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    payload = response.read()
    if response.status != 200:
        raise RuntimeError(f"{method} {path}: {response.status} {payload[:300]!r}")


def _round(server: _Server, method: str, path: str, body: bytes | None, count: int,
           keep_alive: bool) -> tuple[float, float]:
    """``count`` requests; returns (server CPU ms per request, median wall ms). The
    server's idle CPU over the round's duration is not counted (see ``_idle_rate``)."""
    port = server.process.port
    walls = []
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    _request(conn, method, path, body)  # warm (and, kept alive, open) the connection
    before, began = tree_cpu_seconds(server.pid), time.perf_counter()
    for _ in range(count):
        if not keep_alive:
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        started = time.perf_counter()
        _request(conn, method, path, body)
        walls.append(time.perf_counter() - started)
    used = tree_cpu_seconds(server.pid) - before
    used -= server.idle_rate * (time.perf_counter() - began)
    conn.close()
    return used / count * 1e3, statistics.median(walls) * 1e3


def _idle_rate(server: _Server, seconds: float = 4.0) -> float:
    """CPU seconds per second of a server that serves nothing (its timers: the key set's
    reload, health probes, the relay's poll...)."""
    before, began = tree_cpu_seconds(server.pid), time.perf_counter()
    time.sleep(seconds)
    return (tree_cpu_seconds(server.pid) - before) / (time.perf_counter() - began)


def _start(label: str, cwd: Path, tmp: Path, hide: bool, granian: bool = False) -> _Server:
    env = {
        "WORLDGATE__SERVER__LOG_LEVEL": "info",
        "WORLDGATE__SERVER__LOG_FORMAT": "json",
        "WORLDGATE__STORE__SQLITE_PATH": str(tmp / f"{label}.sqlite3"),
        "OPENBLAS_NUM_THREADS": "1",
    }
    command = [sys.executable, "-c", (_HIDE if hide else "") + _SERVE, "serve"]
    port = free_port()
    if granian:  # the same app under granian's Rust HTTP server (one worker process)
        command = [sys.executable, "-m", "granian", "--interface", "asgi", "--http", "1",
                   "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
                   "--factory", "benchmarks.bench_edge:granian_app"]
    process = ServerProcess(env, log_path=tmp / f"{label}.log", ready_path="/ready",
                            cwd=cwd, command=command, port=port)
    process.start()
    process.wait_ready(60)
    return _Server(label, process)


def _in_process_child(cwd: Path, n: int, calls: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_edge", "--in-process", str(n), str(calls)],
        cwd=cwd, check=True, capture_output=True, text=True,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
    ).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


SCENARIOS: list[tuple[str, str, str, int | None, int, bool]] = [
    # (name, method, path, positions, requests per round, kept alive)
    ("GET /health, kept alive", "GET", "/health", None, 1000, True),
    ("GET /health, new connection", "GET", "/health", None, 300, False),
    ("plan 1k, kept alive", "POST", PLAN_PATH, 1_000, 200, True),
    ("plan 1k, new connection", "POST", PLAN_PATH, 1_000, 100, False),
    ("plan 20k, kept alive", "POST", PLAN_PATH, 20_000, 20, True),
]


def main(baseline: str = BASELINE) -> None:
    """Measure before and after, interleaved; print the tables."""
    load_before = os.getloadavg()
    folder = export_baseline(baseline, "bench-edge-baseline-")
    bodies = {n: plan_body(n) for n in SIZES}
    trees = ([("before", folder)] if folder is not None else []) + [("after", ROOT)]
    inproc: dict[str, dict[int, list[dict[str, float]]]] = {
        label: {n: [] for n in SIZES} for label, _ in trees
    }
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        servers: list[_Server] = []
        try:
            for label, tree in trees:
                servers.append(_start(label, tree, tmp, hide=label == "before"))
            if importlib.util.find_spec("granian") is not None:
                servers.append(_start("granian", ROOT, tmp, hide=False, granian=True))
            time.sleep(2.0)  # start-up work done
            for server in servers:
                server.idle_rate = _idle_rate(server)
            for name, method, path, n, count, keep in SCENARIOS:
                body = bodies[n] if n else None
                for _ in range(ROUNDS):
                    for server in servers:
                        server.rows.setdefault(name, []).append(
                            _round(server, method, path, body, count, keep))
        finally:
            for server in servers:
                server.process.stop()
        for _ in range(3):
            for label, tree in trees:
                for n in SIZES:
                    inproc[label][n].append(_in_process_child(tree, n, 200 if n < 10_000 else 20))
    load_after = os.getloadavg()
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)

    print(f"load average {load_before[0]:.1f} before, "
          f"{', '.join(f'{x:.1f}' for x in load_after)} (1/5/15 min) after; "
          f"{ROUNDS} rounds per scenario alternating servers, medians; idle server CPU "
          + ", ".join(f"{s.label} {s.idle_rate * 1e3:.0f} ms/s" for s in servers)
          + " (not counted)")
    if folder is None:
        print(f"(baseline {baseline} not available: only this checkout is measured)")
    ref = {
        label: {n: {k: statistics.median(r[k] for r in inproc[label][n])
                    for k in inproc[label][n][0]} for n in SIZES}
        for label, _ in trees
    }
    print("\nin-process, mean CPU ms per call (median of 3 child runs):")
    print(f"{'':>8} {'positions':>9} {'body KB':>8} {'decode':>8} {'plan':>8} {'encode':>8} "
          f"{'all':>8} {'plan/decode':>11}")
    for label, _ in trees:
        for n in SIZES:
            r = ref[label][n]
            print(f"{label:>8} {n:>9,} {r['body_bytes'] / 1e3:>8.0f} {r['decode']:>8.3f} "
                  f"{r['plan']:>8.3f} {r['encode']:>8.3f} {r['total']:>8.3f} "
                  f"{r['plan'] / r['decode']:>10.2f}x")
    print("\nover HTTP: server CPU ms per request / client wall ms per request (median)")
    print(f"{'scenario':<30}" + "".join(f"{s.label + ' CPU':>13}{s.label + ' wall':>13}"
                                        for s in servers) + "  after/before CPU")
    cpu: dict[str, dict[str, float]] = {}
    for name, *_ in SCENARIOS:
        cells = ""
        cpu[name] = {}
        for server in servers:
            rows = server.rows[name]
            cpu[name][server.label] = statistics.median(c for c, _ in rows)
            wall = statistics.median(w for _, w in rows)
            cells += f"{cpu[name][server.label]:>13.3f}{wall:>13.3f}"
        got = cpu[name]
        ratio = f"  {got['after'] / got['before']:.2f}x" if "before" in got else ""
        print(f"{name:<30}{cells}{ratio}")
    print("\nserver CPU / in-process decode+plan+encode (of the same code; granian: this "
          "checkout's) — goal <= 1.3x:")
    for name, _, _, n, _, _ in SCENARIOS:
        if n is None:
            continue
        parts = [
            f"{label} {value / ref['before' if label == 'before' else 'after'][n]['total']:.2f}x"
            for label, value in cpu[name].items()
        ]
        print(f"  {name:<30} " + ", ".join(parts))


if __name__ == "__main__":
    if "--in-process" in sys.argv:
        i = sys.argv.index("--in-process")
        print(json.dumps(in_process(int(sys.argv[i + 1]), int(sys.argv[i + 2]))))
    elif "--baseline" in sys.argv:
        main(sys.argv[sys.argv.index("--baseline") + 1])
    else:
        main()


def granian_app() -> object:
    """The app as ``worldgate serve`` builds it, for granian (``--factory``): settings from
    the environment, the same logging set-up."""
    from app.main import create_app
    from app.runtime.logging import configure_logging
    from app.settings import load_settings

    settings = load_settings()
    configure_logging(settings.server.log_format, settings.server.log_level)
    return create_app(settings)
