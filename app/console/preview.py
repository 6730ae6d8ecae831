"""The plan preview form: positions and targets (or a whole request) in, a request body out.

Positions are pasted or loaded as CSV (``world_id,strategy_id,symbol,qty,mark[,venue]``) or
JSON (a list, or ``{"positions": [...]}``), targets as ``world=fraction`` items like the
CLI's ``--target``. The weights drawn in the chart come from a v3 ``projection`` when the
plan has one, else from the positions and the plan's deltas (one pass over each).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import msgspec

from app.contracts.rebalancing import PositionSlice
from app.sdk.io import InputError, parse_allocations

__all__ = ["InputError", "build_request", "weights_from_request"]

_FIELDS = ("world_id", "strategy_id", "symbol", "qty", "mark", "venue")


def _json(text: str, what: str) -> Any:
    try:
        return msgspec.json.decode(text.encode())
    except msgspec.DecodeError as exc:
        raise InputError(f"{what} is not valid JSON: {exc}") from None


def _positions(text: str) -> list[dict[str, Any]]:
    stripped = text.strip()
    if not stripped:
        raise InputError("give positions (CSV or JSON), or a whole request")
    items: Any
    if stripped[0] in "[{":
        obj = _json(stripped, "positions")
        items = obj.get("positions") if isinstance(obj, dict) else obj
        if not isinstance(items, list):
            raise InputError('positions: expected a list or {"positions": [...]}')
    else:
        rows = [r for r in csv.reader(io.StringIO(stripped)) if any(c.strip() for c in r)]
        header = [c.strip().lower() for c in rows[0]]
        missing = [f for f in _FIELDS[:5] if f not in header]
        if missing:
            raise InputError(f"positions CSV: missing column(s) {', '.join(missing)} "
                             f"(header: {','.join(header)})")
        items = [{k: (v.strip() or None) if k == "venue" else v.strip()
                  for k, v in zip(header, row, strict=False) if k in _FIELDS} for row in rows[1:]]
    try:
        slices = msgspec.convert(items, list[PositionSlice], strict=False)
    except msgspec.ValidationError as exc:
        raise InputError(f"bad position: {exc}") from None
    return [msgspec.to_builtins(p) for p in slices]


def _number(text: str, what: str) -> float | None:
    if not text.strip():
        return None
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{what}: {text.strip()!r} is not a number") from None
    if not value >= 0:
        raise InputError(f"{what} must be a number ≥ 0")
    return value


def build_request(form: Mapping[str, Any]) -> dict[str, Any]:
    """The rebalance request body the form describes.

    Args:
        form: ``request`` (a whole body as JSON), else ``positions``, ``targets``, and
            optionally ``before``, ``total_equity``; ``policy`` (JSON) is added either way.

    Raises:
        InputError: a field is missing or malformed; the message names it.
    """
    def text(key: str) -> str:
        value = form.get(key)
        return value if isinstance(value, str) else ""

    if text("request").strip():
        body = _json(text("request"), "the request")
        if not isinstance(body, dict):
            raise InputError("the request must be a JSON object")
    else:
        positions = _positions(text("positions"))
        if not text("targets").strip():
            raise InputError("give target allocations, e.g. core=0.6, alpha=0.4")
        after = parse_allocations(text("targets").replace(" ", ""))
        equity = _number(text("total_equity"), "total equity")
        if equity is None:
            equity = sum(abs(p["qty"] * p["mark"]) for p in positions)
        if text("before").strip():
            before = parse_allocations(text("before").replace(" ", ""))
        else:
            gross: dict[str, float] = defaultdict(float)
            for p in positions:
                gross[p["world_id"]] += abs(p["qty"] * p["mark"])
            before = {w: g / equity if equity > 0 else 0.0 for w, g in gross.items()}
        for world in after:
            before.setdefault(world, 0.0)
        body = {"total_equity": equity, "world_alloc_before": before,
                "world_alloc_after": after, "positions": positions}
    if text("policy").strip():
        policy = _json(text("policy"), "the policy")
        if not isinstance(policy, dict):
            raise InputError("the policy must be a JSON object")
        body["policy"] = policy
    return body


def weights_from_request(
    request: Mapping[str, Any], plan: Mapping[str, Any]
) -> dict[str, tuple[float, float, float]]:
    """``{world: (before, after, target)}``: Σ qty·mark over total equity before, plus each
    delta at the quantity-weighted mark of its (world, venue, symbol) after."""
    equity = request.get("total_equity")
    positions = request.get("positions")
    if not isinstance(equity, int | float) or equity <= 0 or not isinstance(positions, list):
        return {}
    net: dict[str, float] = defaultdict(float)
    notional: dict[tuple[str, str, str], float] = defaultdict(float)
    size: dict[tuple[str, str, str], float] = defaultdict(float)
    for p in positions:
        if not isinstance(p, Mapping):
            continue
        world, qty, mark = str(p.get("world_id")), p.get("qty"), p.get("mark")
        if not isinstance(qty, int | float) or not isinstance(mark, int | float):
            continue
        net[world] += qty * mark
        key = (world, str(p.get("venue") or ""), str(p.get("symbol")))
        notional[key] += abs(qty) * mark
        size[key] += abs(qty)
    after = dict(net)
    per_world = plan.get("per_world")
    for world, entry in (per_world.items() if isinstance(per_world, Mapping) else ()):
        for d in (entry.get("deltas") or []) if isinstance(entry, Mapping) else []:
            key = (str(world), str(d.get("venue") or ""), str(d.get("symbol")))
            qty = d.get("delta_qty")
            if size.get(key) and isinstance(qty, int | float):
                after[str(world)] = after.get(str(world), 0.0) + qty * notional[key] / size[key]
    targets = request.get("world_alloc_after")
    targets = targets if isinstance(targets, Mapping) else {}
    worlds = set(net) | {str(w) for w in targets}
    return {w: (net.get(w, 0.0) / equity, after.get(w, 0.0) / equity,
                float(targets.get(w, 0.0))) for w in worlds}
