"""Pure reference prices and holdings of a request's positions, for order conversion and the
pre-trade risk checks: quantity-weighted marks and net quantities, built in one pass."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

import msgspec

__all__ = ["Holding", "Prices"]


class Holding(msgspec.Struct, frozen=True, kw_only=True, array_like=True):
    """The current net position of one batch (a world, or the whole account for a
    shared-account execution) in one (venue, canonical symbol), with the reference price
    its orders are valued at."""

    world_id: str
    venue: str | None
    symbol: str
    qty: float
    price: float | None


K = TypeVar("K")


def _add_mark(acc: dict[K, list[float]], key: K, qty: float, mark: float) -> None:
    slot = acc.setdefault(key, [0.0, 0.0, mark])
    slot[0] += abs(qty) * mark
    slot[1] += abs(qty)
    slot[2] = mark


def _mark(acc: dict[K, list[float]], key: K) -> float | None:
    slot = acc.get(key)
    if slot is None:
        return None
    return slot[0] / slot[1] if slot[1] > 0 else slot[2]


class Prices:
    """Quantity-weighted marks by (world, venue, symbol) and by (venue, symbol)."""

    def __init__(self) -> None:
        self.world: dict[tuple[str, str | None, str], list[float]] = {}
        self.account: dict[tuple[str | None, str], list[float]] = {}
        self.symbol: dict[str, float] = {}
        # Net quantities per (world, venue, symbol) and per (venue, symbol) of the account.
        self.net_world: dict[tuple[str, str | None, str], float] = {}
        self.net_account: dict[tuple[str | None, str], float] = {}

    def add(self, world: str, venue: str | None, symbol: str, qty: float, mark: float) -> None:
        """Take in one position (its mark, weighted by |qty|, and its net quantity)."""
        _add_mark(self.world, (world, venue, symbol), qty, mark)
        _add_mark(self.account, (venue, symbol), qty, mark)
        self.symbol[symbol] = mark
        world_key = (world, venue, symbol)
        self.net_world[world_key] = self.net_world.get(world_key, 0.0) + qty
        self.net_account[(venue, symbol)] = self.net_account.get((venue, symbol), 0.0) + qty

    def holdings(
        self, account_batch: str | None, ordered: Iterable[tuple[str, Any, str | None, str]]
    ) -> list[Holding]:
        """Every batch's net position per (venue, symbol) — per world, or of the whole
        account under ``account_batch`` for a shared-account execution — plus the
        ``(batch, _, venue, symbol)`` keys of ``ordered`` that hold nothing yet (overlay
        instruments), each with its reference price."""
        account = account_batch is not None
        net = (
            {(account_batch, v, s): q for (v, s), q in self.net_account.items()}
            if account_batch is not None
            else self.net_world
        )
        out: dict[tuple[str, str | None, str], Holding] = {}
        for (batch, venue, symbol), qty in net.items():
            out[(batch, venue, symbol)] = Holding(
                world_id=batch, venue=venue, symbol=symbol, qty=qty,
                price=self.price(batch, venue, symbol, account=account),
            )
        for batch, _, venue, symbol in ordered:
            if (batch, venue, symbol) not in out:
                out[(batch, venue, symbol)] = Holding(
                    world_id=batch, venue=venue, symbol=symbol, qty=0.0,
                    price=self.price(batch, venue, symbol, account=account),
                )
        return list(out.values())

    def price(
        self, world: str, venue: str | None, symbol: str, *, account: bool
    ) -> float | None:
        """The reference price of a batch's orders in (venue, symbol): the quantity-weighted
        mark of the world's (or the account's) positions, else the symbol's last mark."""
        if account:  # one batch for the whole account: never a world's own marks
            found = _mark(self.account, (venue, symbol))
        else:
            found = _mark(self.world, (world, venue, symbol))
        return found if found is not None else self.symbol.get(symbol)
