"""Policy benchmark: what schema v3 and its policy add to a plan, at 20k, 100k and 1M positions.

The universe is the planner benchmark's (100 worlds × 5 strategies, 2,000 symbols with lot
sizes, 3 venues). Each size runs in its own process; every figure is the best CPU time of a
few runs of the plan as the API serves it (decode the JSON body, validate, plan, build the
answer, encode it) and of the planning alone (validate, plan, build the answer), for three
requests:

- v2: no policy, the schema v2 answer;
- v3: no policy, the v3 answer (its ``skipped`` explains every lot and dust cut, and its
  ``projection``);
- v3 + policy: a policy that binds every rule at once (a no-trade band, a turnover cap, a
  cash budget, a cost model per venue), so most keys are skipped by two or three rules.

"policy adds" compares v3 + policy with v3 (the same answer without a policy); "v3 adds"
compares v3 + policy with v2.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable

import msgspec

from app.contracts.policy import Band, CashPolicy, CostModel, Costs, RebalancePolicy
from app.contracts.rebalancing import RebalanceRequest
from app.worldservice.planner import compute_plan
from app.worldservice.plans import build_plan_response
from benchmarks.bench_planner import VENUES, build_request

SIZES = (20_000, 100_000, 1_000_000)
TARGET_OVERHEAD = 0.30
POLICY = RebalancePolicy(
    band=Band(abs=0.00005, rel=0.05),
    max_turnover=0.05,
    cash=CashPolicy(available=250_000.0, buffer=0.005),
    costs=Costs(default=CostModel(fee_bps=5.0, slippage_bps=3.0, min_fee=0.5),
                by_venue={VENUES[0]: CostModel(fee_bps=2.0, slippage_bps=1.0, min_fee=0.1)}),
)
_decoder = msgspec.json.Decoder(RebalanceRequest)
_encoder = msgspec.json.Encoder()


def _best(run: Callable[[], object], repeats: int) -> float:
    run()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        run()
        best = min(best, time.process_time() - started)
    return best


def measure(n: int) -> dict[str, object]:
    """Time one size in this process."""
    repeats = 5 if n <= 20_000 else 3 if n <= 100_000 else 2
    base = build_request(n)
    cases = {
        "v2": (msgspec.structs.replace(base, schema_version=2), 2),
        "v3": (msgspec.structs.replace(base, schema_version=3), 3),
        "v3_policy": (msgspec.structs.replace(base, schema_version=3, policy=POLICY), 3),
    }
    out: dict[str, object] = {"positions": n}
    for name, (req, version) in cases.items():
        body = _encoder.encode(req)

        def served(body: bytes = body, version: int = version) -> bytes:
            return _encoder.encode(build_plan_response(_decoder.decode(body), version))

        def planned(req: RebalanceRequest = req, version: int = version) -> object:
            return build_plan_response(req, version)

        out[f"{name}_served"] = _best(served, repeats)
        out[f"{name}_planned"] = _best(planned, repeats)
        parts = compute_plan(req, explain=version >= 3)
        out[f"{name}_deltas"] = sum(len(p.deltas) for p in parts.per_world.values())
        out[f"{name}_skipped"] = len(parts.skipped or [])
        out[f"{name}_answer_mb"] = len(served()) / 1e6
    return out


def _pct(a: float, b: float) -> str:
    return f"{a / b - 1.0:+.0%}"


def main() -> None:
    """Run every size in a fresh subprocess and print a table."""
    rows = []
    print(f"{'positions':>10} {'case':>10} {'served s':>9} {'planned s':>9} {'µs/pos':>7} "
          f"{'deltas':>8} {'skipped':>9} {'answer MB':>9}")
    for n in SIZES:
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks.bench_policy", str(n)],
            check=True, capture_output=True, text=True,
            env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
        ).stdout
        row = json.loads(out.strip().splitlines()[-1])
        rows.append(row)
        for case in ("v2", "v3", "v3_policy"):
            print(f"{n:>10,} {case:>10} {row[f'{case}_served']:>9.3f} "
                  f"{row[f'{case}_planned']:>9.3f} "
                  f"{row[f'{case}_served'] / n * 1e6:>7.2f} {row[f'{case}_deltas']:>8,} "
                  f"{row[f'{case}_skipped']:>9,} {row[f'{case}_answer_mb']:>9.1f}", flush=True)
        print(f"{'':>10} policy adds (v3 + policy vs v3): served "
              f"{_pct(row['v3_policy_served'], row['v3_served'])}, planned "
              f"{_pct(row['v3_policy_planned'], row['v3_planned'])}; v3 adds (vs v2): served "
              f"{_pct(row['v3_policy_served'], row['v2_served'])}, planned "
              f"{_pct(row['v3_policy_planned'], row['v2_planned'])}", flush=True)
    per = [r["v3_policy_served"] / r["positions"] for r in rows]
    worst = max(r["v3_policy_served"] / r["v3_served"] - 1.0 for r in rows)
    print(f"v3 + policy served CPU per position, max/min over {SIZES[0]:,}..{SIZES[-1]:,}: "
          f"{max(per) / min(per):.2f}x (linear: target <= 2x)")
    print(f"largest policy overhead, served: {worst:+.0%} (target <= {TARGET_OVERHEAD:+.0%})")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        print(json.dumps(measure(int(sys.argv[1]))))
    else:
        main()
