"""Pure instrument and venue rules for order conversion: lookup, lot and tick rounding."""

from __future__ import annotations

import functools
import math
from decimal import Decimal

import msgspec

from app.settings import InstrumentConstraint, VenuePolicy

__all__ = [
    "LOT_TOLERANCE",
    "InstrumentRule",
    "RuleBook",
    "VenueRule",
    "round_to_lot",
    "round_to_tick",
    "subtract_lots",
]

LOT_TOLERANCE = 1e-9
"""A quantity within this many lots of a multiple counts as that multiple (float noise)."""

_WILDCARD = "*"


class InstrumentRule(msgspec.Struct, frozen=True, kw_only=True):
    """The resolved rule for one (venue, symbol): its canonical name and its limits."""

    symbol: str
    lot_size: float | None = None
    min_notional: float | None = None
    tick_size: float | None = None


class VenueRule(msgspec.Struct, frozen=True, kw_only=True):
    """Order flags of one venue (defaults when the venue has no policy)."""

    supports_reduce_only: bool = True
    reduce_only_requires_ioc: bool = False
    default_time_in_force: str = "GTC"


@functools.lru_cache(maxsize=1024)
def _decimal(value: float) -> Decimal:
    # repr() gives the shortest repr, so 0.1 becomes Decimal("0.1"), not its binary expansion.
    return Decimal(repr(value))


def round_to_lot(quantity: float, lot: float | None) -> float:
    """Round ``quantity`` toward zero to a multiple of ``lot`` without float residue.

    A quantity within ``LOT_TOLERANCE`` lots of a multiple counts as that multiple, so sums of
    lot multiples (which carry float noise) are not rounded down by a whole lot.

    Args:
        quantity: the signed quantity.
        lot: the lot size (> 0), or None for no rounding.

    Returns:
        The rounded signed quantity (``0.0`` when less than one lot).
    """
    if not math.isfinite(quantity):
        return 0.0
    if lot is None or quantity == 0.0:
        return quantity
    lots = quantity / lot
    nearest = round(lots)
    whole = nearest if abs(lots - nearest) <= LOT_TOLERANCE else math.trunc(lots)
    if whole == 0:
        return 0.0
    return float(Decimal(whole) * _decimal(lot))


def subtract_lots(minuend: float, subtrahend: float) -> float:
    """Return ``minuend - subtrahend`` exactly for two lot-rounded quantities.

    Float subtraction of two large lot multiples can leave noise of more than
    ``LOT_TOLERANCE`` lots, which ``round_to_lot`` would then cut by a whole lot; decimal
    arithmetic on their shortest reprs keeps the difference an exact multiple.
    """
    return float(_decimal(minuend) - _decimal(subtrahend))


def round_to_tick(price: float, tick: float | None) -> float:
    """Round ``price`` to the nearest multiple of ``tick`` (unchanged when ``tick`` is None)."""
    if tick is None:
        return price
    ticks = round(price / tick)
    return float(Decimal(ticks) * _decimal(tick))


class RuleBook:
    """Instrument constraints and venue policies indexed once for O(1) lookups.

    A constraint matches a symbol by its ``symbol``, ``canonical_symbol`` or any alias, at
    its ``venue`` (or any venue for ``"*"``). Lookup order: exact venue and symbol, any venue
    and the symbol, the venue and any symbol, then any venue and any symbol. When two
    constraints claim the same key the first listed wins.

    Args:
        constraints: ``gateway.instrument_constraints``.
        venue_policies: ``gateway.venue_policies`` (a ``"*"`` venue is the default policy).
    """

    def __init__(
        self,
        constraints: list[InstrumentConstraint],
        venue_policies: list[VenuePolicy],
    ) -> None:
        self._index: dict[tuple[str, str], InstrumentConstraint] = {}
        for item in constraints:
            names = [item.symbol]
            if item.symbol != _WILDCARD:
                names += [item.canonical_symbol] if item.canonical_symbol else []
                names += item.aliases
            for name in names:
                self._index.setdefault((item.venue, name), item)
        self._venues: dict[str, VenueRule] = {}
        for policy in venue_policies:
            self._venues.setdefault(
                policy.venue,
                VenueRule(
                    supports_reduce_only=policy.supports_reduce_only,
                    reduce_only_requires_ioc=policy.reduce_only_requires_ioc,
                    default_time_in_force=policy.default_time_in_force,
                ),
            )
        self._default_venue = self._venues.get(_WILDCARD, VenueRule())
        self._cache: dict[tuple[str | None, str], InstrumentRule] = {}

    def instrument(self, venue: str | None, symbol: str) -> InstrumentRule:
        """Return the rule for ``symbol`` at ``venue`` (no limits when nothing matches)."""
        key = (venue, symbol)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        v = venue if venue is not None else _WILDCARD
        found = (
            self._index.get((v, symbol))
            or self._index.get((_WILDCARD, symbol))
            or self._index.get((v, _WILDCARD))
            or self._index.get((_WILDCARD, _WILDCARD))
        )
        if found is None:
            rule = InstrumentRule(symbol=symbol)
        else:
            canonical = symbol
            if found.symbol != _WILDCARD:
                canonical = found.canonical_symbol or found.symbol
            rule = InstrumentRule(
                symbol=canonical,
                lot_size=found.lot_size,
                min_notional=found.min_notional,
                tick_size=found.tick_size,
            )
        self._cache[key] = rule
        return rule

    def venue(self, venue: str | None) -> VenueRule:
        """Return the policy of ``venue`` (the ``"*"`` policy, else defaults)."""
        if venue is None:
            return self._default_venue
        return self._venues.get(venue, self._default_venue)
