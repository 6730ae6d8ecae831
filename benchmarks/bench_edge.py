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

from app.testing import ServerProcess

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
    """``count`` requests; returns (server CPU ms per request, median wall ms)."""
    port = server.process.port
    walls = []
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    _request(conn, method, path, body)  # warm (and, kept alive, open) the connection
    before = cpu_seconds(server.pid)
    for _ in range(count):
        if not keep_alive:
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        started = time.perf_counter()
        _request(conn, method, path, body)
        walls.append(time.perf_counter() - started)
    used = cpu_seconds(server.pid) - before
    conn.close()
    return used / count * 1e3, statistics.median(walls) * 1e3


def _start(label: str, cwd: Path, tmp: Path, hide: bool) -> _Server:
    env = {
        "WORLDGATE__SERVER__LOG_LEVEL": "info",
        "WORLDGATE__SERVER__LOG_FORMAT": "json",
        "WORLDGATE__STORE__SQLITE_PATH": str(tmp / f"{label}.sqlite3"),
        "OPENBLAS_NUM_THREADS": "1",
    }
    command = [sys.executable, "-c", (_HIDE if hide else "") + _SERVE, "serve"]
    process = ServerProcess(env, log_path=tmp / f"{label}.log", ready_path="/ready",
                            cwd=cwd, command=command)
    process.start()
    process.wait_ready(60)
    return _Server(label, process)


def _export(ref: str) -> Path | None:
    """``app`` and ``config`` of ``ref`` plus this benchmark package, in a temporary folder."""
    if shutil.which("git") is None:
        return None
    folder = Path(tempfile.mkdtemp(prefix="bench-edge-baseline-"))
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "app", "config"],
                             capture_output=True)
    if archive.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        return None
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    shutil.copytree(ROOT / "benchmarks", folder / "benchmarks")
    return folder


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
    folder = _export(baseline)
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
          f"{ROUNDS} rounds per scenario alternating servers, medians")
    if folder is None:
        print(f"(baseline {baseline} not available: only this checkout is measured)")
    labels = [s.label for s in servers]
    ref = {
        label: {n: {k: statistics.median(r[k] for r in inproc[label][n])
                    for k in inproc[label][n][0]} for n in SIZES}
        for label in labels
    }
    print("\nin-process, mean CPU ms per call (median of 3 child runs):")
    print(f"{'':>8} {'positions':>9} {'body KB':>8} {'decode':>8} {'plan':>8} {'encode':>8} "
          f"{'all':>8} {'plan/decode':>11}")
    for label in labels:
        for n in SIZES:
            r = ref[label][n]
            print(f"{label:>8} {n:>9,} {r['body_bytes'] / 1e3:>8.0f} {r['decode']:>8.3f} "
                  f"{r['plan']:>8.3f} {r['encode']:>8.3f} {r['total']:>8.3f} "
                  f"{r['plan'] / r['decode']:>10.2f}x")
    print("\nover HTTP: server CPU ms per request / client wall ms per request (median)")
    header = f"{'scenario':<30}" + "".join(f"{label + ' CPU':>12}{label + ' wall':>12}"
                                            for label in labels)
    print(header + ("   after/before CPU" if len(labels) == 2 else ""))
    for name, *_ in SCENARIOS:
        cells = ""
        cpu = {}
        for server in servers:
            rows = server.rows[name]
            cpu[server.label] = statistics.median(c for c, _ in rows)
            wall = statistics.median(w for _, w in rows)
            cells += f"{cpu[server.label]:>12.3f}{wall:>12.3f}"
        ratio = f"   {cpu['after'] / cpu['before']:.2f}x" if len(labels) == 2 else ""
        print(f"{name:<30}{cells}{ratio}")
    print("\nserver CPU / in-process decode+plan+encode of the same code (goal <= 1.3x):")
    for name, _, _, n, _, _ in SCENARIOS:
        if n is None:
            continue
        parts = []
        for server in servers:
            cpu = statistics.median(c for c, _ in server.rows[name])
            parts.append(f"{server.label} {cpu / ref[server.label][n]['total']:.2f}x")
        print(f"  {name:<30} " + ", ".join(parts))


if __name__ == "__main__":
    if "--in-process" in sys.argv:
        i = sys.argv.index("--in-process")
        print(json.dumps(in_process(int(sys.argv[i + 1]), int(sys.argv[i + 2]))))
    elif "--baseline" in sys.argv:
        main(sys.argv[sys.argv.index("--baseline") + 1])
    else:
        main()
