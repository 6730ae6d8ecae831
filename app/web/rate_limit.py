"""Per-key request budgets: a token bucket per key, in this process's memory."""

from __future__ import annotations

__all__ = ["KeyRateLimiter"]


class KeyRateLimiter:
    """Allows each key ``rate_per_minute`` requests a minute, with bursts up to that many.

    Buckets live in memory (no store round trip per request), so each process of a
    deployment grants a key its own budget. Buckets exist only for keys that made a call,
    so their number is bounded by the number of keys.
    """

    def __init__(self) -> None:
        self._buckets: dict[str, list[float]] = {}

    def take(self, key_id: str, rate_per_minute: int, now: float) -> float | None:
        """Spend one request of ``key_id``'s budget at ``now`` (monotonic seconds).

        Returns:
            None when the request may go ahead, else the seconds until it could.
        """
        capacity = float(rate_per_minute)
        refill = capacity / 60.0
        bucket = self._buckets.get(key_id)
        if bucket is None:
            bucket = self._buckets[key_id] = [capacity, now]
        tokens = min(capacity, bucket[0] + max(0.0, now - bucket[1]) * refill)
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return None
        bucket[0] = tokens
        return (1.0 - tokens) / refill
