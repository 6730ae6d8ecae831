"""Lot and tick arithmetic of the contract, shared by the planner and order conversion.

Quantities are rounded toward zero to lot multiples without float residue (``0.3``, never
``0.30000000000000004``), counting a quantity within ``LOT_TOLERANCE`` lots of a multiple as
that multiple (sums of lot multiples carry float noise).
"""

from __future__ import annotations

import functools
import math
from decimal import Decimal

__all__ = [
    "EXACT_INT_LIMIT",
    "LOT_TOLERANCE",
    "LotInfo",
    "lot_count",
    "lot_info",
    "lot_qty",
    "round_to_lot",
    "round_to_tick",
    "subtract_lots",
]

LOT_TOLERANCE = 1e-9
"""A quantity within this many lots of a lot multiple counts as that multiple."""

LotInfo = tuple[float, float, float, Decimal]  # lot, mantissa m, 10**d, exact lot
EXACT_INT_LIMIT = float(2**53)  # integers below this are exact floats


@functools.lru_cache(maxsize=4096)
def _exact(value: float) -> Decimal:
    # repr() is the shortest round-tripping form: 0.1 becomes Decimal("0.1"), not the binary
    # expansion of the double nearest to it.
    return Decimal(repr(value))


@functools.lru_cache(maxsize=4096)
def lot_info(lot: float) -> LotInfo:
    """``lot`` as ``m / 10**d`` with integer ``m`` (cached: requests reuse a few lot sizes)."""
    exact = _exact(lot)
    _, digits, exponent = exact.as_tuple()
    mantissa = int("".join(map(str, digits)))
    if isinstance(exponent, int) and -22 <= exponent <= 0 and mantissa < EXACT_INT_LIMIT:
        return (lot, float(mantissa), 10.0**-exponent, exact)
    return (lot, math.nan, 1.0, exact)  # NaN mantissa: always the Decimal path


def lot_count(units: float) -> int:
    """Whole lots in ``units`` lots: toward zero, snapping within ``LOT_TOLERANCE``.

    Raises:
        ValueError: ``units`` is not finite.
    """
    if not math.isfinite(units):
        raise ValueError(f"a quantity of {units} lots is not finite")
    nearest = round(units)
    if -LOT_TOLERANCE <= units - nearest <= LOT_TOLERANCE:
        return nearest
    return int(units)  # int() truncates toward zero


def lot_qty(count: int, info: LotInfo) -> float:
    """``count`` lots as the float nearest the exact decimal product (no float residue).

    With ``lot = m / 10**d``, ``count·m`` is an exact integer below 2**53 and ``10**d`` is
    exact for d ≤ 22, so one IEEE division is correctly rounded: the nearest float to the
    decimal value. Anything else goes through Decimal.
    """
    num = count * info[1]
    if -EXACT_INT_LIMIT < num < EXACT_INT_LIMIT:
        return num / info[2]
    return float(info[3] * count)


def round_to_lot(qty: float, lot: float | None) -> float:
    """Round ``qty`` toward zero to a multiple of ``lot`` without float residue.

    Args:
        qty: the signed quantity.
        lot: the lot size (> 0), or None for no rounding.

    Returns:
        The rounded quantity (``0.0`` when less than one lot).

    Raises:
        ValueError: ``qty`` is not finite.
    """
    if lot is None:
        return qty
    count = lot_count(qty / lot)
    return lot_qty(count, lot_info(lot)) if count else 0.0


def subtract_lots(minuend: float, subtrahend: float) -> float:
    """Return ``minuend - subtrahend`` exactly for two lot-rounded quantities.

    Float subtraction of two large lot multiples can leave noise of more than
    ``LOT_TOLERANCE`` lots, which ``round_to_lot`` would then cut by a whole lot; decimal
    arithmetic on their shortest reprs keeps the difference an exact multiple.
    """
    return float(_exact(minuend) - _exact(subtrahend))


def round_to_tick(price: float, tick: float | None) -> float:
    """Round ``price`` to the nearest multiple of ``tick`` (unchanged when ``tick`` is None)."""
    if tick is None:
        return price
    return float(Decimal(round(price / tick)) * _exact(tick))
