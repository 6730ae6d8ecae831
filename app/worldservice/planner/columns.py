"""The first planner pass: the request's positions split into typed columns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from app.contracts.rebalancing import PositionSlice
from app.worldservice.planner.arrays import FloatArray, IntArray

__all__ = ["Columns", "columns"]


@dataclass(frozen=True, slots=True)
class Columns:
    """The positions as columns: string fields as codes into sorted name lists.

    Codes follow the names' sort order, so sorting codes sorts by name. A missing venue
    is the name ``""`` (sorts first).
    """

    n: int
    world: IntArray
    strategy: IntArray
    symbol: IntArray
    venue: IntArray
    worlds: list[str]
    strategies: list[str]
    symbols: list[str]
    venues: list[str]
    qty: FloatArray
    mark: FloatArray


def _codes(values: list[str]) -> tuple[IntArray, list[str]]:
    names = sorted(set(values))
    index = {name: i for i, name in enumerate(names)}
    return np.fromiter(map(index.__getitem__, values), np.intp, len(values)), names


def columns(positions: Sequence[PositionSlice]) -> Columns:
    """Split ``positions`` into columns (one C-speed pass per field).

    Args:
        positions: the request's positions.

    Returns:
        The columns; quantities and marks as float64.
    """
    n = len(positions)
    world, worlds = _codes([p.world_id for p in positions])
    strategy, strategies = _codes([p.strategy_id for p in positions])
    symbol, symbols = _codes([p.symbol for p in positions])
    venue, venues = _codes([p.venue or "" for p in positions])
    qty = np.fromiter([p.qty for p in positions], np.float64, n)
    mark = np.fromiter([p.mark for p in positions], np.float64, n)
    return Columns(n, world, strategy, symbol, venue, worlds, strategies, symbols, venues,
                   qty, mark)
