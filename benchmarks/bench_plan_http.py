"""HTTP plan benchmark: a 10k-position ``POST /worldservice/rebalancing/plan`` against a real
``worldgate serve`` (uvicorn) on loopback, compared with msgspec alone decoding the body."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import msgspec

from app.contracts.rebalancing import RebalanceRequest
from app.testing import serve_process
from app.worldservice.plans import build_plan_response
from benchmarks.bench_planner import build_request

POSITIONS = 10_000
ROUNDS = 30
URL_PATH = "/worldservice/rebalancing/plan"


def _best(fn: Callable[[], object], rounds: int = ROUNDS) -> float:
    """Best CPU time of ``fn`` in this process (the shared VM's other load does not count)."""
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        fn()
        best = min(best, time.process_time() - started)
    return best


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    """Print the floor (msgspec decode), the in-process pipeline and the HTTP round trip."""
    req = build_request(POSITIONS)
    body = msgspec.json.encode(req)
    decoder = msgspec.json.Decoder(RebalanceRequest)
    floor = _best(lambda: decoder.decode(body))
    decoded = decoder.decode(body)
    plan_only = _best(lambda: build_plan_response(decoded, 1))
    encoded = msgspec.json.encode(build_plan_response(decoded, 1))
    in_process = _best(lambda: msgspec.json.encode(build_plan_response(decoder.decode(body), 1)))
    print(f"request body: {len(body) / 1e6:.2f} MB, {POSITIONS:,} positions; "
          f"response {len(encoded) / 1e6:.2f} MB")
    print("in-process figures are best-of CPU times")
    print(f"msgspec decode alone (floor):        {floor * 1e3:8.2f} ms")
    print(f"validate + plan:                     {plan_only * 1e3:8.2f} ms")
    print(f"decode + plan + encode in-process:   {in_process * 1e3:8.2f} ms "
          f"({in_process / floor:.1f}x floor)")

    with tempfile.TemporaryDirectory() as tmp:
        env = {
            "WORLDGATE__SERVER__LOG_LEVEL": "warning",
            "WORLDGATE__STORE__SQLITE_PATH": str(Path(tmp) / "bench.sqlite3"),
        }
        log_path = Path(tmp) / "server.log"
        with (
            serve_process(env, log_path=log_path, ready_path="/schema/openapi.json") as server,
            httpx.Client(base_url=server.url, timeout=60) as client,
        ):
            assert server.proc is not None
            pid = server.proc.pid
            headers = {"content-type": "application/json"}
            for _ in range(3):  # warm-up
                client.post(URL_PATH, content=body, headers=headers).raise_for_status()
            times = []
            cpu_before = _cpu_seconds(pid)
            for _ in range(ROUNDS):
                started = time.perf_counter()
                response = client.post(URL_PATH, content=body, headers=headers)
                times.append(time.perf_counter() - started)
                response.raise_for_status()
            server_cpu = (_cpu_seconds(pid) - cpu_before) / ROUNDS
            assert response.content and response.json()["schema_version"] == 1
    best, median = min(times), statistics.median(times)
    print(f"server CPU per request:              {server_cpu * 1e3:8.2f} ms "
          f"({server_cpu / floor:.1f}x floor; target <= 3x)")
    print(f"HTTP round trip, wall (best/median): {best * 1e3:8.2f} / {median * 1e3:.2f} ms "
          f"({best / floor:.1f}x / {median / floor:.1f}x floor)")


if __name__ == "__main__":
    main()
