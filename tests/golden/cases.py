"""What v1 and v2 clients get, byte for byte: the cases behind ``v1_v2.json``.

The file is recorded from ``main`` without schema v3 (copy this module into an export of
``main`` and run ``python -m tests.golden.cases --write`` there; it was re-recorded so when
main itself changed a v1/v2 answer, e.g. ``data.version`` of events in issue 12, or the
Gateway replaying an apply first made at WorldService instead of a 409 in issue 15);
``test_v1_v2_golden.py`` checks that every answer a v1 or v2 client can get is still
exactly those bytes with v3 in the tree.
"""

from __future__ import annotations

import random
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import msgspec
from litestar.testing import TestClient

from app.contracts.rebalancing import PositionSlice, RebalanceRequest
from app.gateway.event_views import view_event
from app.main import create_app
from app.sdk.runner import EffectiveCapabilities, shape_request
from app.sdk.samples import sample_request, sample_returns, sample_world_returns
from app.sdk.wire import decode_plan, encode_request, plan_to_builtins
from app.settings import load_settings, merge_tables
from app.worldservice.records import decode_plan as decode_stored_plan
from app.worldservice.records import planned_events

__all__ = ["GOLDEN_PATH", "collect", "requests"]

GOLDEN_PATH = Path(__file__).with_name("v1_v2.json")
ClientFactory = Callable[[dict[str, Any]], TestClient[Any]]

WS_V2 = {"worldservice": {"server": {"compat_rebalance_v2": True}}}
CONFIGS: dict[str, dict[str, Any]] = {
    "v1": {"gateway": {"shared_account_policy": {"enabled": True}}},
    "v2": merge_tables(WS_V2, {"gateway": {
        "rebalance_schema_version": 2, "alpha_metrics_capable": True,
        "shared_account_policy": {"enabled": True}}}),
    "v2gw1": WS_V2,
    "v2required": {"worldservice": {"server": {"compat_rebalance_v2": True,
                                               "alpha_metrics_required": True}},
                   "gateway": {"rebalance_schema_version": 2, "alpha_metrics_capable": True}},
}


def _p(world: str, strategy: str, symbol: str, qty: float, mark: float,
       venue: str | None = None) -> PositionSlice:
    return PositionSlice(world_id=world, strategy_id=strategy, symbol=symbol, qty=qty, mark=mark,
                         venue=venue)


def _random_request(seed: int, n: int) -> RebalanceRequest:
    rng = random.Random(seed)
    worlds = ["w1", "w2", "w3"]
    positions = [
        _p(rng.choice(worlds), f"s{rng.randrange(5)}", f"SYM{rng.randrange(12)}",
           round(rng.uniform(-50, 50), 3), round(rng.uniform(1, 500), 2),
           rng.choice([None, "v1", "v2"]))
        for _ in range(n)
    ]
    return RebalanceRequest(
        total_equity=250_000.0,
        world_alloc_before={"w1": 0.3, "w2": 0.3, "w3": 0.4},
        world_alloc_after={"w1": 0.45, "w2": 0.15, "w3": 0.4},
        positions=positions,
        strategy_alloc_after_total={"w2": {"s1": 0.05}},
        lot_size_by_symbol={f"SYM{i}": [0.001, 0.1, 1.0][i % 3] for i in range(0, 12, 2)},
        min_trade_notional=25.0,
    )


def requests() -> dict[str, RebalanceRequest]:
    """The base requests (no schema fields): each shape the planner handles."""
    spec = RebalanceRequest(
        total_equity=1_000_000.0,
        world_alloc_before={"a": 0.3, "b": 0.2},
        world_alloc_after={"a": 0.2, "b": 0.2},
        positions=[_p("a", "s", "BTC", 1.0, 60_000.0), _p("b", "t", "ETH", 2.0, 3_000.0)],
        strategy_alloc_before_total={"a": {"s": 0.1}},
        strategy_alloc_after_total={"a": {"s": 0.2 / 3}},
        lot_size_by_symbol={"BTC": 0.001},
    )
    overlay = {"instrument_by_world": {"core": "IDX", "alpha": "IDX"},
               "price_by_symbol": {"IDX": 4_000.0}, "min_order_notional": 100.0}
    sample = sample_request()
    return {
        "sample": sample,
        "spec": spec,
        "overlay": msgspec.convert(
            {**msgspec.to_builtins(sample), "mode": "OVERLAY", "overlay": overlay},
            RebalanceRequest),
        "hybrid": msgspec.convert(
            {**msgspec.to_builtins(sample), "mode": "hybrid",
             "overlay": {**overlay, "overlay_fraction": 0.25}}, RebalanceRequest),
        "random": _random_request(7, 120),
    }


def _v2(req: RebalanceRequest) -> RebalanceRequest:
    caps = EffectiveCapabilities(schema_version=2, alpha_metrics=True,
                                 advertised_schema_version=2, advertised_alpha_metrics=True)
    return shape_request(req, caps, returns_by_strategy=sample_returns(),
                         returns_by_world=sample_world_returns(), intent={"ticket": "G-1"})


def _v1(req: RebalanceRequest) -> RebalanceRequest:
    caps = EffectiveCapabilities(schema_version=1, alpha_metrics=False,
                                 advertised_schema_version=1, advertised_alpha_metrics=False)
    return shape_request(req, caps)


def _bodies() -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for name, req in requests().items():
        out[f"{name}/none"] = encode_request(_v1(req))
        out[f"{name}/1"] = encode_request(msgspec.structs.replace(_v1(req), schema_version=1))
        out[f"{name}/2"] = encode_request(_v2(req))
    return out


def _text(response: Any) -> str:
    return f"{response.status_code} {response.content.decode()}"


_VOLATILE = frozenset({"execution_id", "expires_at", "etag"})
"""Execute previews carry a fresh id, an expiry time and etags over fresh risk states."""


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: "<volatile>" if k in _VOLATILE else _scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def _execute_text(response: Any) -> str:
    """An execute answer with its per-call values replaced (key order and the rest kept)."""
    if response.status_code != 200:
        return _text(response)
    body = _scrub(msgspec.json.decode(response.content))
    return f"{response.status_code} {msgspec.json.encode(body).decode()}"


def _events(plan_body: bytes) -> list[Any]:
    """The planned events' ``data`` as v1 and v2 readers see it (ids and times vary)."""
    plan = decode_stored_plan(plan_body)
    out = []
    for event in planned_events(plan, plan.run_id or "run", "apply"):
        for version in (1, 2):
            seen = msgspec.json.decode(view_event(event, version))
            out.append([version, seen["data"]])
    return out


def collect(make_client: ClientFactory) -> dict[str, Any]:
    """Every answer a v1 or v2 client can get for the cases, keyed by a stable name."""
    bodies = _bodies()
    out: dict[str, Any] = {"request_bytes": {k: v.decode() for k, v in bodies.items()}}
    for config, overrides in CONFIGS.items():
        client = make_client(overrides)
        health = client.get("/health").json()
        health.pop("checked_at", None)
        out[f"{config}/health"] = health
        out[f"{config}/capabilities"] = _text(client.get("/worldservice/capabilities"))
        for key, body in bodies.items():
            headers = {"content-type": "application/json"}
            ws = client.post("/worldservice/rebalancing/plan", content=body, headers=headers)
            gw = client.post("/rebalancing/plan", content=body, headers=headers)
            out[f"{config}/ws_plan/{key}"] = _text(ws)
            out[f"{config}/gw_plan/{key}"] = _text(gw)
            if gw.status_code == 200:
                out[f"{config}/sdk_plan/{key}"] = plan_to_builtins(decode_plan(gw.json()))
            for flags in ("", "per_strategy=true", "shared_account=true"):
                if key.startswith(("overlay", "hybrid")) and flags:
                    continue
                ex = client.post(f"/rebalancing/execute?{flags}", content=body, headers=headers)
                out[f"{config}/execute[{flags}]/{key}"] = _execute_text(ex)
            run = f"golden-{config}-{key.replace('/', '-')}"
            apply_body = msgspec.json.encode({**msgspec.json.decode(body), "run_id": run})
            applied = client.post("/worldservice/rebalancing/apply", content=apply_body,
                                  headers=headers)
            out[f"{config}/apply/{key}"] = _text(applied)
            if applied.status_code == 200:
                out[f"{config}/events/{key}"] = _events(applied.content)
                again = client.post("/rebalancing/apply", content=apply_body, headers=headers)
                out[f"{config}/gw_apply_replay/{key}"] = _text(again)
        sample = msgspec.json.decode(bodies["sample/2" if config != "v1" else "sample/none"])
        alloc = {k: v for k, v in sample.items()
                 if k not in ("world_alloc_before", "world_alloc_after")}
        for step, target in enumerate(({"core": 0.6, "alpha": 0.4},
                                       {"core": 0.5, "alpha": 0.5})):
            payload = {**alloc, "run_id": f"golden-alloc-{config}-{step}",
                       "world_allocations": target}
            got = client.post("/worldservice/allocations", json=payload)
            out[f"{config}/allocations/{step}"] = _text(got)
    return out


@contextmanager
def _factory() -> Iterator[ClientFactory]:
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        count = [0]

        def make(overrides: dict[str, Any]) -> TestClient[Any]:
            count[0] += 1
            base = {"store": {"sqlite_path": f"{tmp}/g{count[0]}.sqlite3"}}
            settings = load_settings(environ={}, overrides=merge_tables(base, overrides))
            return stack.enter_context(TestClient(create_app(settings)))

        yield make


def main(argv: list[str]) -> int:
    """``--write`` records the golden file; without it, print how many entries differ."""
    with _factory() as make:
        got = collect(make)
    encoded = msgspec.json.format(msgspec.json.encode(got), indent=1) + b"\n"
    if "--write" in argv:
        GOLDEN_PATH.write_bytes(encoded)
        print(f"wrote {GOLDEN_PATH} ({len(got)} entries)")
        return 0
    want = msgspec.json.decode(GOLDEN_PATH.read_bytes())
    diff = sorted(k for k in set(want) | set(got) if want.get(k) != got.get(k))
    print("\n".join(diff) or "identical")
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
