"""Shared ControlBus test helper: take a number of envelopes from a subscription."""

from __future__ import annotations

import anyio

from app.controlbus.ports import BusEnvelope, Subscription

__all__ = ["WAIT", "receive"]

WAIT = 10  # seconds: a hang guard, never a speed assertion


async def receive(sub: Subscription, count: int) -> list[BusEnvelope]:
    """Take ``count`` envelopes from ``sub`` (fails after ``WAIT`` seconds instead of hanging)."""
    out: list[BusEnvelope] = []
    if count == 0:
        return out
    with anyio.fail_after(WAIT):
        async for envelope in sub:
            out.append(envelope)
            if len(out) == count:
                break
    return out
