"""The policy's no-trade band, applied per (world, strategy) before netting."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from app.contracts.policy import Band
from app.worldservice.planner.arrays import FloatArray, overflow_at
from app.worldservice.planner.scales import StrategyScales

__all__ = ["Banded", "apply_band"]


@dataclass(frozen=True, slots=True)
class Banded:
    """The scales netting uses, and what the band held back.

    Attributes:
        per_position: each position's ``s − 1``; 0 for positions of a banded strategy.
        held: each position's ``s − 1`` that the band held back (0 where not banded);
            None when nothing was banded.
        pairs: the banded (world, strategy) group numbers (see ``StrategyScales``).
    """

    per_position: FloatArray
    held: FloatArray | None
    pairs: npt.NDArray[np.intp]


def within_band(band: Band, before: FloatArray, after: FloatArray) -> npt.NDArray[np.bool_]:
    """Which strategies move too little to trade.

    A strategy is within the band when ``|after − before| ≤ abs``, or when ``before > 0``
    and ``|after − before| / before ≤ rel``; a 0 disables that test.
    """
    move = np.abs(after - before)
    inside = np.zeros(len(move), bool)
    if band.abs > 0.0:
        inside |= move <= band.abs
    if band.rel > 0.0:
        positive = before > 0.0
        with np.errstate(all="ignore"):
            inside |= positive & (move / np.where(positive, before, 1.0) <= band.rel)
    return inside


def apply_band(band: Band | None, scales: StrategyScales) -> Banded:
    """Hold back every position of the strategies within ``band``.

    Args:
        band: the policy's band (None: nothing is banded).
        scales: the strategy scales, with their before/after fractions when ``band`` is set.

    Returns:
        The scales to net and what was held back.

    Raises:
        PlanOverflowError: a strategy's allocation is not finite (it names the positions).
    """
    none = np.zeros(0, np.intp)
    if band is None or not (band.abs > 0.0 or band.rel > 0.0) or not len(scales.before):
        return Banded(per_position=scales.per_position, held=None, pairs=none)
    bad = ~(np.isfinite(scales.before) & np.isfinite(scales.after))
    if bad.any():  # a strategy's net notional summed past the float range
        raise overflow_at("a strategy's allocation", np.flatnonzero(bad[scales.pair]))
    inside = within_band(band, scales.before, scales.after)
    pairs = np.flatnonzero(inside)
    if not len(pairs):
        return Banded(per_position=scales.per_position, held=None, pairs=none)
    banded = inside[scales.pair]
    held = np.where(banded, scales.per_position, 0.0)
    return Banded(
        per_position=np.where(banded, 0.0, scales.per_position), held=held, pairs=pairs
    )
