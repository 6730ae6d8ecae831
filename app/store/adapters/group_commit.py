"""Group commit, shared by the store adapters.

Concurrent writes wait in one queue. The first caller to get the queue's lock (the leader)
takes what is queued (up to ``MAX_BATCH``) and hands it to the adapter's batch runner, which
runs every write in one transaction (a savepoint each) and commits once; each caller then
finds its own result or error on its job. A caller whose write a leader already committed
finds it done when it gets the lock, and a caller cancelled before any leader took its write
leaves the queue without it being written.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import anyio

__all__ = ["MAX_BATCH", "Job", "WriteQueue"]

MAX_BATCH = 128
F = TypeVar("F")


class Job(Generic[F]):
    """One queued write: its work, and (once its batch ran) its result or error.

    ``durable=False`` marks a write whose loss in a crash is harmless (a batch of only such
    writes may skip its fsync); ``deadline`` (``time.monotonic()``) bounds its wait.
    """

    __slots__ = ("deadline", "done", "durable", "error", "fn", "result")

    def __init__(self, fn: F, *, durable: bool = True, deadline: float = math.inf) -> None:
        self.fn = fn
        self.durable = durable
        self.deadline = deadline
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None


class WriteQueue(Generic[F]):
    """The queue and the leader's lock of one store.

    Args:
        run_batch: runs a batch in one transaction and one commit and resolves every job
            of it (sets ``result`` or ``error``, then ``done``); never raises for a job.
        shield: run a batch shielded from the leader's cancellation (it holds other
            callers' writes).
    """

    def __init__(self, run_batch: Callable[[list[Job[F]]], Awaitable[None]], *,
                 shield: bool = False) -> None:
        self.lock = anyio.Lock()
        self._jobs: list[Job[F]] = []
        self._run_batch = run_batch
        self._shield = shield

    async def submit(self, job: Job[F]) -> Job[F]:
        """Queue ``job`` and return it once the commit holding it is done."""
        self._jobs.append(job)
        try:
            async with self.lock:
                if not job.done:  # no leader took it yet: lead a batch with what is queued
                    batch = self._jobs[:MAX_BATCH]
                    del self._jobs[:MAX_BATCH]
                    with anyio.CancelScope(shield=self._shield):
                        await self._run_batch(batch)
        except BaseException:
            if job in self._jobs:  # cancelled before any leader took it: never written
                self._jobs.remove(job)
            raise
        return job
