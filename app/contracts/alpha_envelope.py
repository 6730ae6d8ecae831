"""The ``alpha_performance`` keys and the tolerant reading of a metrics envelope from a peer.

Reading a peer's metrics is part of the wire contract, so it lives here, below both the
metrics math (``app.metrics``) and every reader of plans (Gateway, SDK).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from app.contracts.rebalancing import AlphaMetricsEnvelope

__all__ = [
    "METRIC_KEYS",
    "METRIC_NAMES",
    "default_metrics",
    "parse_alpha_envelope",
    "sanitize_metrics",
]

METRIC_NAMES: tuple[str, ...] = (
    "sharpe",
    "max_drawdown",
    "win_ratio",
    "profit_factor",
    "car_mdd",
    "rar_mdd",
)
METRIC_KEYS: tuple[str, ...] = tuple(f"alpha_performance.{name}" for name in METRIC_NAMES)
_KNOWN = frozenset(METRIC_KEYS)


def default_metrics() -> dict[str, float]:
    """Return the six metrics, all 0.0 (what a world or strategy without a series gets)."""
    return dict.fromkeys(METRIC_KEYS, 0.0)


def _wire_float(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    try:
        out = float(value)
    except OverflowError:
        return 0.0
    return out if math.isfinite(out) else 0.0


def sanitize_metrics(obj: object) -> dict[str, float]:
    """Coerce anything into a metrics map with exactly the six keys.

    Known keys keep their value when it is a finite number; NaN, infinities, None, booleans
    and non-numbers become 0.0; unknown keys are ignored; a non-mapping gives the defaults.

    Args:
        obj: a decoded JSON value (usually a dict).

    Returns:
        A dict keyed by ``METRIC_KEYS`` with finite float values.
    """
    out = default_metrics()
    if isinstance(obj, Mapping):
        for key, value in obj.items():
            if key in _KNOWN:
                out[key] = _wire_float(value)
    return out


def _as_mapping(obj: object) -> Mapping[object, object]:
    return obj if isinstance(obj, Mapping) else {}


def parse_alpha_envelope(obj: object) -> AlphaMetricsEnvelope:
    """Parse a decoded ``alpha_metrics`` object tolerantly.

    Unknown keys are ignored at every level, entries with non-string ids or non-mapping
    values are skipped, and every metrics map is sanitised.

    Args:
        obj: a decoded JSON value, or an ``AlphaMetricsEnvelope`` (re-sanitised).

    Returns:
        The envelope with ``per_world`` and ``per_strategy`` filled from ``obj``.
    """
    if isinstance(obj, AlphaMetricsEnvelope):
        obj = {"per_world": obj.per_world, "per_strategy": obj.per_strategy}
    top = _as_mapping(obj)
    per_world = {
        world: sanitize_metrics(m)
        for world, m in _as_mapping(top.get("per_world")).items()
        if isinstance(world, str) and isinstance(m, Mapping)
    }
    per_strategy: dict[str, dict[str, dict[str, float]]] = {}
    for strategy, worlds in _as_mapping(top.get("per_strategy")).items():
        if isinstance(strategy, str) and isinstance(worlds, Mapping):
            per_strategy[strategy] = {
                world: sanitize_metrics(m)
                for world, m in worlds.items()
                if isinstance(world, str) and isinstance(m, Mapping)
            }
    return AlphaMetricsEnvelope(per_world=per_world, per_strategy=per_strategy)
