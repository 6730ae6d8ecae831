"""Contract rules of a rebalance request (SPEC §2–§3) checked in one pass, every error listed."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence

import numpy as np

from app.contracts.ids import bad_ids, id_problem
from app.contracts.policy import CostModel, RebalancePolicy
from app.contracts.rebalancing import PositionSlice, RebalanceRequest
from app.errors import ErrorItem, PayloadTooLargeError, ValidationFailedError
from app.worldservice.planner.columns import Columns

__all__ = ["MAX_ERRORS", "validate_request"]

MAX_ERRORS = 1000
"""At most this many error items are returned; the detail says how many were cut."""

_MODES = ("scaling", "overlay", "hybrid")
_INF = math.inf


_Path = str | tuple[str, ...]
"""A JSON path, or ``(base, key, ...)`` rendered as ``base["key"]...`` only on error."""


def _render(path: _Path) -> str:
    if isinstance(path, str):
        return path
    return path[0] + "".join(f"[{json.dumps(key)}]" for key in path[1:])


def _key(path: _Path, key: str) -> tuple[str, ...]:
    return (path, key) if isinstance(path, str) else (*path, key)


class _Errors:
    """Collects ``{"path", "message"}`` items, keeping the first ``MAX_ERRORS``."""

    __slots__ = ("count", "items")

    def __init__(self) -> None:
        self.items: list[ErrorItem] = []
        self.count = 0

    def add(self, path: _Path, message: str) -> None:
        self.count += 1
        if len(self.items) < MAX_ERRORS:
            self.items.append({"path": _render(path), "message": message})

    def number(self, path: _Path, value: float, *, lo: float, hi: float, lo_open: bool) -> None:
        """Require a finite ``value`` with ``lo <(=) value <= hi``."""
        if not math.isfinite(value):
            self.add(path, "must be a finite number")
        elif value < lo or (lo_open and value == lo) or value > hi:
            low = f"> {lo:g}" if lo_open else f">= {lo:g}"
            self.add(path, f"must be {low}" if hi == _INF else f"must be in [{lo:g}, {hi:g}]")

    def ident(self, path: _Path, value: str, *, allow_empty: bool = False) -> None:
        """Apply the identifier rule (``app.contracts.ids``) to ``value``."""
        problem = id_problem(value, allow_empty=allow_empty)
        if problem is not None:
            self.add(path, problem)


def _position(errors: _Errors, i: int, p: PositionSlice) -> None:
    """The slow path for a position that failed the fast check: name each bad field."""
    base = f"$.positions[{i}]"
    errors.ident(f"{base}.world_id", p.world_id)
    errors.ident(f"{base}.strategy_id", p.strategy_id)
    errors.ident(f"{base}.symbol", p.symbol)
    if p.venue is not None:
        errors.ident(f"{base}.venue", p.venue, allow_empty=True)
    if not math.isfinite(p.qty):
        errors.add(f"{base}.qty", "must be a finite number")
    errors.number(f"{base}.mark", p.mark, lo=0.0, hi=_INF, lo_open=True)


def _allocations(errors: _Errors, path: str, alloc: Mapping[str, float]) -> None:
    for world, value in alloc.items():
        errors.ident(_key(path, world), world)
        errors.number(_key(path, world), value, lo=0.0, hi=1.0, lo_open=False)


def _strategy_maps(
    errors: _Errors, path: str, maps: Mapping[str, Mapping[str, float]] | None
) -> None:
    for world, by_strategy in (maps or {}).items():
        errors.ident(_key(path, world), world)
        for strategy, value in by_strategy.items():
            spath = _key(_key(path, world), strategy)
            errors.ident(spath, strategy)
            errors.number(spath, value, lo=0.0, hi=_INF, lo_open=False)


def _overlay(errors: _Errors, req: RebalanceRequest, mode: str, worlds: list[str]) -> None:
    overlay = req.overlay
    if overlay is None:
        errors.add("$.overlay", f"is required when mode is {mode!r}")
        return
    errors.number(
        "$.overlay.min_order_notional", overlay.min_order_notional, lo=0.0, hi=_INF, lo_open=False
    )
    for symbol, price in overlay.price_by_symbol.items():
        errors.ident(_key("$.overlay.price_by_symbol", symbol), symbol)
        errors.number(_key("$.overlay.price_by_symbol", symbol), price, lo=0.0, hi=_INF,
                      lo_open=True)
    for world, name in overlay.instrument_by_world.items():
        errors.ident(_key("$.overlay.instrument_by_world", world), world)
        if name:
            errors.ident(_key("$.overlay.instrument_by_world", world), name)
    fraction = overlay.overlay_fraction
    if fraction is not None:
        errors.number("$.overlay.overlay_fraction", fraction, lo=0.0, hi=1.0, lo_open=False)
    elif mode == "hybrid":
        errors.add("$.overlay.overlay_fraction", "is required (in [0, 1]) when mode is 'hybrid'")
    for world in worlds:
        instrument = overlay.instrument_by_world.get(world)
        if not instrument:
            errors.add(
                _key("$.overlay.instrument_by_world", world),
                f"world {world!r} has positions but no overlay instrument",
            )
        elif instrument not in overlay.price_by_symbol:
            errors.add(
                _key("$.overlay.price_by_symbol", instrument),
                f"instrument {instrument!r} of world {world!r} has no price",
            )


def _costs(errors: _Errors, path: _Path, model: CostModel) -> None:
    for name in ("fee_bps", "slippage_bps", "min_fee"):
        errors.number(_key(path, name), getattr(model, name), lo=0.0, hi=_INF, lo_open=False)


def _policy(errors: _Errors, policy: RebalancePolicy) -> None:
    """The policy's ranges (decoding checks them too; requests built in Python skip that)."""
    if policy.band is not None:
        errors.number("$.policy.band.abs", policy.band.abs, lo=0.0, hi=_INF, lo_open=False)
        errors.number("$.policy.band.rel", policy.band.rel, lo=0.0, hi=_INF, lo_open=False)
    if policy.max_turnover is not None:
        errors.number("$.policy.max_turnover", policy.max_turnover, lo=0.0, hi=_INF,
                      lo_open=True)
    cash = policy.cash
    if cash is not None:
        errors.number("$.policy.cash.available", cash.available, lo=0.0, hi=_INF,
                      lo_open=False)
        if not (math.isfinite(cash.buffer) and 0.0 <= cash.buffer < 1.0):
            errors.add("$.policy.cash.buffer", "must be in [0, 1)")
    costs = policy.costs
    if costs is not None:
        _costs(errors, "$.policy.costs.default", costs.default)
        for venue, model in costs.by_venue.items():
            errors.ident(_key("$.policy.costs.by_venue", venue), venue)
            _costs(errors, _key("$.policy.costs.by_venue", venue), model)


def _columns_ok(
    positions: Sequence[PositionSlice], cols: Columns | None
) -> tuple[set[str], set[str], bool]:
    """The world ids seen, the ids that break the identifier rule, and whether every
    position's numbers are fine (fast checks over whole columns and distinct names)."""
    if cols is not None:
        mark, qty = cols.mark, cols.qty
        numbers_ok = not cols.n or bool(
            np.isfinite(qty).all() and np.isfinite(mark).all() and mark.min() > 0.0
        )
        names = (cols.worlds, cols.strategies, cols.symbols, cols.venues)
    else:
        # NaN/inf make the sums non-finite, as may an overflow (which only costs the slow pass).
        marks = [p.mark for p in positions]
        numbers_ok = not positions or (
            math.isfinite(sum(marks))
            and min(marks) > 0.0
            and math.isfinite(sum([p.qty for p in positions]))
        )
        names = (
            sorted({p.world_id for p in positions}),
            sorted({p.strategy_id for p in positions}),
            sorted({p.symbol for p in positions}),
            sorted({p.venue or "" for p in positions}),
        )
    seen = set(names[0])
    bad: set[str] = set()
    required = names[:3]
    if any("" in group for group in required) or bad_ids(n for group in names for n in group):
        bad = {n for group in required for n in group if id_problem(n)}
        bad |= {n for n in names[3] if id_problem(n, allow_empty=True)}
    return seen, bad, numbers_ok


def validate_request(
    req: RebalanceRequest, *, max_positions: int | None = None, cols: Columns | None = None
) -> None:
    """Check every contract rule that typing alone does not enforce.

    One pass over the positions; every bad field is reported (up to ``MAX_ERRORS``).

    Args:
        req: the decoded request.
        max_positions: the configured position limit, if any.
        cols: the positions as columns, when the caller already has them (faster).

    Raises:
        PayloadTooLargeError: more positions than ``max_positions``.
        ValidationFailedError: one or more rules are broken; ``errors`` lists each bad
            field's JSON path and what is wrong with it.
    """
    if max_positions is not None and len(req.positions) > max_positions:
        raise PayloadTooLargeError(
            f"{len(req.positions)} positions exceed the limit of {max_positions}"
        )
    errors = _Errors()
    errors.number("$.total_equity", req.total_equity, lo=0.0, hi=_INF, lo_open=False)
    _allocations(errors, "$.world_alloc_before", req.world_alloc_before)
    _allocations(errors, "$.world_alloc_after", req.world_alloc_after)
    _strategy_maps(errors, "$.strategy_alloc_before_total", req.strategy_alloc_before_total)
    _strategy_maps(errors, "$.strategy_alloc_after_total", req.strategy_alloc_after_total)
    if req.min_trade_notional is not None:
        errors.number(
            "$.min_trade_notional", req.min_trade_notional, lo=0.0, hi=_INF, lo_open=False
        )
    lots = req.lot_size_by_symbol or {}
    sizes = list(lots.values())
    # Fast check (NaN/inf make the sum non-finite, as may an overflow, which only costs the
    # per-symbol pass); the per-symbol pass names each bad entry.
    if sizes and not (
        math.isfinite(sum(sizes)) and min(sizes) > 0.0 and "" not in lots and not bad_ids(lots)
    ):
        for symbol, lot in lots.items():
            errors.ident(_key("$.lot_size_by_symbol", symbol), symbol)
            errors.number(_key("$.lot_size_by_symbol", symbol), lot, lo=0.0, hi=_INF,
                          lo_open=True)
    if req.schema_version is not None and req.schema_version < 1:
        errors.add("$.schema_version", "must be >= 1")
    if req.policy is not None:
        _policy(errors, req.policy)
    for path, returns in (
        ("$.realized_returns_by_world", req.realized_returns_by_world),
        ("$.realized_returns_by_strategy", req.realized_returns_by_strategy),
    ):
        for world in returns or {}:
            errors.ident(_key(path, world), world)

    positions = req.positions
    # Fast check over whole columns; details (a slow per-position pass) only when it fails.
    seen, bad, numbers_ok = _columns_ok(positions, cols)
    if bad or not numbers_ok:
        for i, p in enumerate(positions):
            q = p.qty
            m = p.mark
            if not (-_INF < q < _INF and 0.0 < m < _INF) or (
                p.world_id in bad or p.strategy_id in bad or p.symbol in bad
                or (p.venue or "") in bad
            ):
                _position(errors, i, p)
    worlds = sorted(w for w in seen if w and w not in bad)
    for world in worlds:
        for path, alloc in (
            ("$.world_alloc_before", req.world_alloc_before),
            ("$.world_alloc_after", req.world_alloc_after),
        ):
            if world not in alloc:
                errors.add(_key(path, world), f"world {world!r} has positions but no allocation")

    mode = req.mode.lower()
    if mode not in _MODES:
        errors.add("$.mode", f"must be one of scaling, overlay, hybrid (got {req.mode!r})")
    elif mode != "scaling":
        _overlay(errors, req, mode, worlds)

    if errors.count:
        first = errors.items[0]
        if errors.count == 1:
            detail = f"{first['path']}: {first['message']}"
        else:
            detail = f"The request has {errors.count} invalid fields"
            if errors.count > len(errors.items):
                detail += f" (the first {len(errors.items)} are listed)"
            detail += f"; first: {first['path']}: {first['message']}."
        raise ValidationFailedError(detail, errors=errors.items)
