"""Pure instrument and venue rules for order conversion: indexed once, looked up in O(1)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

import msgspec

__all__ = [
    "InstrumentRule",
    "InstrumentSpec",
    "RuleBook",
    "VenueRule",
    "VenueSpec",
]

_WILDCARD = "*"


class InstrumentSpec(Protocol):
    """One configured instrument constraint (``gateway.instrument_constraints`` fits)."""

    @property
    def venue(self) -> str: ...
    @property
    def symbol(self) -> str: ...
    @property
    def canonical_symbol(self) -> str | None: ...
    @property
    def aliases(self) -> Sequence[str]: ...
    @property
    def lot_size(self) -> float | None: ...
    @property
    def min_notional(self) -> float | None: ...
    @property
    def tick_size(self) -> float | None: ...


class VenueSpec(Protocol):
    """One configured venue policy (``gateway.venue_policies`` fits)."""

    @property
    def venue(self) -> str: ...
    @property
    def supports_reduce_only(self) -> bool: ...
    @property
    def reduce_only_requires_ioc(self) -> bool: ...
    @property
    def default_time_in_force(self) -> str: ...


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
        self, constraints: Iterable[InstrumentSpec], venue_policies: Iterable[VenueSpec]
    ) -> None:
        self._index: dict[tuple[str, str], InstrumentSpec] = {}
        for item in constraints:
            names = [item.symbol]
            if item.symbol != _WILDCARD:
                names += [item.canonical_symbol] if item.canonical_symbol else []
                names += list(item.aliases)
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
