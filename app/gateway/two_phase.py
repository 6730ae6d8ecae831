"""Two-phase execution (SPEC §13): stored previews, and submitting exactly what they show.

A preview keeps its answer and its ``RiskBasis`` (the converted orders and the holdings
they were judged against). Submitting it judges that basis again under the current trading
states and limits: when exactly the previewed orders pass, they are submitted under the
preview's ``execution_id``; otherwise the caller gets 412 with a fresh preview.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable

import msgspec
import structlog

from app.contracts.ids import check_id
from app.contracts.orders import ExecuteResponse, Order, StrategyOrder
from app.contracts.risk import iso_time
from app.errors import (
    AppError,
    Code,
    NotFoundError,
    PermissionDeniedError,
    PreconditionFailedError,
    ServiceUnavailableError,
)
from app.gateway.idempotency import Executed
from app.gateway.orders import GLOBAL_BATCH, OrderBatch
from app.gateway.risk import RiskBasis, RiskOutcome, preview_etag
from app.gateway.risk_gate import RiskGate, refused, risk_rejected
from app.settings import Settings
from app.store.ports import ExecutionStore, PreviewStore, StoredPreview
from app.telemetry import AppMetrics
from app.web.etags import if_match

__all__ = ["PreviewBasis", "TwoPhase", "with_outcome"]

log = structlog.get_logger(__name__)
_encoder = msgspec.json.Encoder(order="deterministic")
_answer = msgspec.json.Decoder(ExecuteResponse)
#: Expired previews are kept this long (submitting one says 410, not 404), then pruned.
KEEP_EXPIRED_SECONDS = 86_400.0


class PreviewBasis(msgspec.Struct, frozen=True, kw_only=True):
    """What a preview keeps to be judged again: its basis and the orders that passed."""

    basis: RiskBasis
    passed: list[OrderBatch]


_basis_decoder = msgspec.msgpack.Decoder(PreviewBasis)


def with_outcome(response: ExecuteResponse, outcome: RiskOutcome) -> ExecuteResponse:
    """``response`` carrying the verdict: the passed orders, the denials, the status, the
    states they were checked against and the etag over all of it."""
    per_world: dict[str, list[Order]] = {}
    global_orders: list[Order] | None = None
    for batch in outcome.batches:
        if batch.world_id == GLOBAL_BATCH and response.scope == "global":
            global_orders = batch.orders
        else:
            per_world[batch.world_id] = batch.orders
    per_strategy = None
    if response.scope == "per_strategy":  # the same orders, listed as QMTL's consumers read them
        per_strategy = [
            StrategyOrder(world_id=world, strategy_id=order.strategy_id, order=order)
            for world, orders in per_world.items()
            for order in orders
        ]
    return msgspec.structs.replace(
        response,
        orders_per_world=per_world,
        orders_per_strategy=per_strategy,
        orders_global=(global_orders or []) if response.scope == "global" else None,
        denied=outcome.denied,
        status=outcome.status,
        risk_states=outcome.checked,
        etag=preview_etag(outcome),
    )


def _decoded(content: bytes) -> object:
    return msgspec.json.decode(content)


class TwoPhase(ABC):
    """The preview half of ``ExecutionService`` (a mixin: it records submits through the
    service's ``_submit``)."""

    settings: Settings
    store: ExecutionStore
    previews: PreviewStore
    gate: RiskGate
    metrics: AppMetrics | None
    clock: Callable[[], float]

    @abstractmethod
    async def _submit(
        self,
        response: ExecuteResponse,
        batches: list[OrderBatch],
        version: int,
        fixed_id: str | None,
        fingerprint: str,
    ) -> Executed:
        """Implemented by the class this is mixed into."""

    def live_guard(self, allow_live: bool) -> None:
        """Refuse a submit without ``X-Allow-Live: true`` while the guard is on (403)."""
        if self.settings.gateway.enforce_live_guard and not allow_live:
            raise PermissionDeniedError(
                "Submitting orders needs the header `X-Allow-Live: true` while "
                "gateway.enforce_live_guard is on."
            )

    async def save_preview(
        self,
        response: ExecuteResponse,
        basis: RiskBasis,
        outcome: RiskOutcome,
        fingerprint: str,
    ) -> bytes:
        """Store ``response`` as a new preview; return its encoded answer.

        Raises:
            ServiceUnavailableError: the store failed (503); there is no preview.
        """
        now = self.clock()
        expires = now + self.settings.gateway.risk.preview_ttl_seconds
        answer = msgspec.structs.replace(
            response,
            state="previewed",
            submitted=False,
            execution_id=str(uuid.uuid4()),
            expires_at=iso_time(expires),
            batches=None,
        )
        content = _encoder.encode(answer)
        assert answer.execution_id is not None and answer.etag is not None
        record = StoredPreview(
            execution_id=answer.execution_id,
            request_hash=fingerprint,
            etag=answer.etag,
            response=content,
            basis=msgspec.msgpack.encode(PreviewBasis(basis=basis, passed=outcome.batches)),
            created_at=now,
            expires_at=expires,
        )
        try:
            await self.previews.save_preview(record, prune_before=now - KEEP_EXPIRED_SECONDS)
        except AppError:
            raise
        except Exception as exc:  # any store failure: no preview exists
            log.exception("preview_store_failed", execution_id=answer.execution_id)
            raise ServiceUnavailableError("The preview could not be stored.") from exc
        return content

    async def _live_preview(self, execution_id: str) -> StoredPreview:
        preview = await self.previews.get_preview(execution_id)
        if preview is None:
            raise NotFoundError(f"No execution {execution_id!r}.", code=Code.EXECUTION_NOT_FOUND)
        if self.clock() > preview.expires_at:
            raise AppError(
                f"The preview {execution_id!r} expired at {iso_time(preview.expires_at)} "
                "(gateway.risk.preview_ttl_seconds); execute again for a new one.",
                code=Code.PREVIEW_EXPIRED,
                status=410,
                extra={"execution_id": execution_id},
            )
        return preview

    async def read_preview(self, execution_id: str) -> bytes:
        """The answer of a live preview (404 unknown, 410 expired)."""
        return (await self._live_preview(execution_id)).response

    async def submit_preview(
        self, execution_id: str, expected: str | None, allow_live: bool
    ) -> tuple[bytes, bool]:
        """Answer ``POST /rebalancing/executions/{id}/submit``.

        Args:
            execution_id: the preview's id.
            expected: the ``If-Match`` header (the preview's etag).
            allow_live: whether ``X-Allow-Live: true`` was sent.

        Returns:
            ``(answer, replayed)``: the submitted execution, and whether it had been
            submitted before (the stored answer again).

        Raises:
            AppError: 403 live guard, 404 unknown, 410 expired, 428 no ``If-Match``,
                412 stale etag or orders that would differ now (with a fresh preview),
                422 ``E_RISK_REJECTED``, 503 store failure.
        """
        self.live_guard(allow_live)
        done = await self.store.get_execution(check_id(execution_id, "$.execution_id"))
        if done is not None:
            return done.response, True
        preview = await self._live_preview(execution_id)
        if expected is None:
            raise AppError(
                "Submitting a preview needs `If-Match: <etag>` with the preview's etag.",
                code=Code.PRECONDITION_REQUIRED,
                status=428,
                extra={"etag": preview.etag},
            )
        if not if_match(expected, preview.etag):
            raise PreconditionFailedError(
                "If-Match does not name this preview's etag.",
                extra={"etag": preview.etag, "preview": _decoded(preview.response)},
            )
        kept = _basis_decoder.decode(preview.basis)
        answer = _answer.decode(preview.response)
        outcome = await self.gate.judge(kept.basis, "exact", expected=kept.passed)
        if outcome.batches != kept.passed:
            fresh = await self.save_preview(
                with_outcome(answer, outcome), kept.basis, outcome, preview.request_hash
            )
            log.info("preview_outdated", execution_id=execution_id, status=outcome.status)
            raise PreconditionFailedError(
                "The trading states or limits changed the orders since the preview; "
                "review the fresh preview and submit it instead.",
                extra={"preview": _decoded(fresh)},
            )
        if refused(outcome, kept.basis.all_or_nothing):
            raise risk_rejected(outcome, kept.basis.all_or_nothing)
        response = msgspec.structs.replace(with_outcome(answer, outcome), etag=preview.etag)
        executed = await self._submit(
            response,
            kept.passed,
            answer.rebalance_schema_version,
            execution_id,
            f"preview:{preview.etag}",
        )
        if self.metrics is not None and not executed.replayed:
            self.metrics.execution_recorded(submitted=True)
        # A concurrent submit of the same preview may have recorded it first: its answer.
        return executed.content, executed.replayed
