"""The numeric toolkit of the planner passes: array types, grouping, sums, overflow guard."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

__all__ = [
    "PACK_LIMIT",
    "FloatArray",
    "IntArray",
    "PlanOverflowError",
    "as_objects",
    "finite",
    "overflow_at",
    "group",
    "sums",
    "to_notional",
    "to_qty",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
PACK_LIMIT = 2**62
"""Two codes are packed into one int64 (``a * nb + b``) while the product stays below this."""


OVERFLOW_PATHS = 20
"""At most this many request paths are named by one ``PlanOverflowError``."""


class PlanOverflowError(ValueError):
    """A planned figure is not finite (inputs so large that the arithmetic overflows).

    Args:
        what: the figure that overflowed (``"qty × mark"``, ``"a world scale"``).
        paths: the JSON paths of the request parts it came from (``$.positions[3]``).
    """

    def __init__(self, what: str, paths: Sequence[str] = ()) -> None:
        super().__init__(f"{what} is not finite; the figures are too large to plan")
        self.what = what
        self.paths = list(paths[:OVERFLOW_PATHS]) or ["$"]


def finite(value: float, what: str, path: str = "$") -> float:
    """Return ``value``, or raise ``PlanOverflowError`` naming ``what`` when it is not finite."""
    if not math.isfinite(value):
        raise PlanOverflowError(what, [path])
    return value


def overflow_at(what: str, positions: IntArray, also: Sequence[str] = ()) -> PlanOverflowError:
    """The error for figures of the positions ``positions`` (indices) that overflowed.

    Args:
        what: the figure that overflowed.
        positions: the indices of the positions it came from.
        also: request paths named before the positions (a policy figure that took part).
    """
    return PlanOverflowError(
        what, [*also, *(f"$.positions[{i}]" for i in positions[:OVERFLOW_PATHS].tolist())]
    )


def to_qty(change: FloatArray, abs_qty: FloatArray, abs_notional: FloatArray) -> FloatArray:
    """Notional changes over their keys' quantity-weighted marks (``Σ|qty|·mark / Σ|qty|``).

    ``change · Σ|qty| / Σ|qty|·mark`` (the order the answers were always computed in), and
    ``change / (Σ|qty|·mark / Σ|qty|)`` where that product overflows though the quotient
    fits; what stays infinite really is too large (the caller names it).
    """
    with np.errstate(all="ignore"):
        qty: FloatArray = change * abs_qty / abs_notional
        big = ~np.isfinite(qty)
        if big.any():
            qty[big] = change[big] / (abs_notional[big] / abs_qty[big])
    return qty


def to_notional(qty: FloatArray, abs_qty: FloatArray, abs_notional: FloatArray) -> FloatArray:
    """Quantities times their keys' quantity-weighted marks (the inverse of ``to_qty``)."""
    with np.errstate(all="ignore"):
        out: FloatArray = qty * abs_notional / abs_qty
        big = ~np.isfinite(out)
        if big.any():
            out[big] = qty[big] * (abs_notional[big] / abs_qty[big])
    return out


def group(a: IntArray, b: IntArray, nb: int) -> tuple[IntArray, IntArray, IntArray]:
    """Group rows by the pair ``(a, b)`` (codes, ``0 <= b < nb``), groups in ``(a, b)`` order.

    Returns:
        ``(group_a, group_b, inverse)``: each group's pair and each row's group number.
    """
    if not len(a):
        empty = np.zeros(0, np.intp)
        return empty, empty, empty
    span = (int(a.max()) + 1) * nb
    if span >= PACK_LIMIT:  # too many distinct values to pack into one int64: compare rows
        rows, inverse = np.unique(np.stack((a, b), axis=1), axis=0, return_inverse=True)
        return rows[:, 0], rows[:, 1], inverse.reshape(-1).astype(np.intp)
    packed = a.astype(np.int64) * nb + b
    if span <= 2 * len(a) + 4096:  # dense: mark the packed values present, no sort
        present = np.flatnonzero(np.bincount(packed, minlength=span))
        number = np.empty(span, np.intp)
        number[present] = np.arange(len(present))
        inverse = number[packed]
    else:
        present, inverse = np.unique(packed, return_inverse=True)
        inverse = inverse.reshape(-1).astype(np.intp)
    group_a, group_b = np.divmod(present, nb)
    return group_a.astype(np.intp), group_b.astype(np.intp), inverse


def sums(inverse: IntArray, weights: FloatArray, groups: int) -> FloatArray:
    """Σ ``weights`` per group, added in row order (as a plain Python loop would)."""
    out: FloatArray = np.bincount(inverse, weights=weights, minlength=groups).astype(
        np.float64, copy=False
    )
    return out


def as_objects(names: Iterable[str | None]) -> npt.NDArray[np.object_]:
    """``names`` as a numpy object array (so codes can pick names in one indexing step)."""
    items = list(names)
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out
