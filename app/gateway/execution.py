"""The execute use case (SPEC §8): plan via WorldService, convert to orders, optionally submit."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgspec
import structlog

from app.contracts.events import (
    EVENT_SOURCE_GATEWAY,
    REBALANCING_ORDERS,
    CloudEvent,
    OrderCounts,
    OrdersPayload,
    new_event,
)
from app.contracts.ids import check_id
from app.contracts.orders import BatchSummary, ExecuteResponse, Order, Scope
from app.contracts.rebalancing import ExecuteRequest, PlanResponse, PlanV2, RebalanceRequest
from app.errors import (
    AppError,
    Code,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ServiceUnavailableError,
    ValidationFailedError,
)
from app.gateway.constraints import RuleBook
from app.gateway.negotiation import NegotiatingClient, alpha_metrics_present
from app.gateway.orders import GLOBAL_BATCH, Conversion, convert_plan
from app.gateway.shared_account import check_policy, figures_of
from app.settings import Settings
from app.store.ports import ExecutionRecord, ExecutionStore
from app.telemetry import AppMetrics

__all__ = [
    "ExecuteOptions",
    "Executed",
    "ExecutionService",
    "allocation_execution_id",
    "keyed_execution_id",
]

log = structlog.get_logger(__name__)
_encoder = msgspec.json.Encoder(order="deterministic")
_canonical = msgspec.json.Encoder(order="sorted")
_RUN_NAMESPACE = uuid.UUID("6f1d8c2e-5a7b-4e0c-9d3f-2b8a1c4e7f60")
"""Namespace of execution ids derived from allocation ``run_id`` s (idempotent retries)."""
_KEY_NAMESPACE = uuid.UUID("0b7e9a52-3c61-4f2d-8e15-9a4d6c2b1f83")
"""Namespace of execution ids derived from execute idempotency keys (never an allocation's)."""


def allocation_execution_id(run_id: str) -> str:
    """The execution id of an allocation run executed with ``execute: true``."""
    return str(uuid.uuid5(_RUN_NAMESPACE, run_id))


def keyed_execution_id(key: str) -> str:
    """The execution id of a submit made under an ``Idempotency-Key`` (or ``run_id``)."""
    return str(uuid.uuid5(_KEY_NAMESPACE, key))


class Executed(msgspec.Struct, frozen=True, kw_only=True):
    """An execute answer: the JSON bytes, and whether they are a stored answer replayed."""

    content: bytes
    replayed: bool = False


class ExecuteOptions(msgspec.Struct, frozen=True, kw_only=True):
    """Query flags of ``POST /rebalancing/execute`` and the live-guard header."""

    submit: bool = False
    shared_account: bool = False
    per_strategy: bool = False
    allow_live: bool = False


class ExecutionService:
    """Turns rebalance requests into orders and records submitted executions.

    Args:
        settings: the configuration (``[gateway]`` rules and policies).
        client: the negotiating WorldService client.
        store: where submitted executions and their events are recorded.
        nudge: called after a successful submit to wake the outbox publisher (optional).
        metrics: counts executions (``execution_recorded``), when given.
    """

    def __init__(
        self,
        settings: Settings,
        client: NegotiatingClient,
        store: ExecutionStore,
        nudge: Callable[[], None] | None = None,
        metrics: AppMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.client = client
        self.store = store
        self.nudge = nudge
        self.metrics = metrics
        gw = settings.gateway
        self.rules = RuleBook(gw.instrument_constraints, gw.venue_policies)

    def _check(self, options: ExecuteOptions) -> Scope:
        gw = self.settings.gateway
        if options.shared_account and options.per_strategy:
            raise ValidationFailedError(
                "shared_account and per_strategy cannot be combined: a shared-account "
                "execution nets every strategy and world into one batch.",
                errors=[{"path": "$.query", "message": "shared_account with per_strategy"}],
            )
        if options.shared_account and not gw.shared_account_policy.enabled:
            raise PermissionDeniedError(
                "Shared-account execution is disabled "
                "(gateway.shared_account_policy.enabled = false).",
                code=Code.SHARED_ACCOUNT_DISABLED,
            )
        if options.submit and gw.enforce_live_guard and not options.allow_live:
            raise PermissionDeniedError(
                "Submitting orders needs the header `X-Allow-Live: true` while "
                "gateway.enforce_live_guard is on."
            )
        if options.shared_account:
            return "global"
        return "per_strategy" if options.per_strategy else "per_world"

    @staticmethod
    def fingerprint(request: RebalanceRequest, options: ExecuteOptions) -> str:
        """Hash what a submit means: the request (without ``run_id`` and the negotiated
        ``schema_version``, ``mode`` lower-cased) and the options that shape its orders.

        Bodies that decode to the same request (key order, whitespace, unknown fields)
        hash the same, so an idempotent retry need not repeat the bytes exactly.
        """
        meaning = msgspec.structs.replace(
            request, schema_version=None, mode=request.mode.lower()
        )
        if isinstance(meaning, ExecuteRequest):
            meaning = msgspec.structs.replace(meaning, run_id=None)
        flags = f"shared_account={options.shared_account};per_strategy={options.per_strategy};"
        return hashlib.sha256(flags.encode() + _canonical.encode(meaning)).hexdigest()

    @staticmethod
    def idempotency_key(request: RebalanceRequest, header: str | None) -> str | None:
        """The submit's idempotency key: the ``Idempotency-Key`` header or the body's
        ``run_id``.

        Raises:
            ValidationFailedError: the key is not a valid identifier, or the header and
                ``run_id`` disagree (422).
        """
        run_id = request.run_id if isinstance(request, ExecuteRequest) else None
        if header is None:
            return run_id
        check_id(header, "$.headers.Idempotency-Key")
        if run_id is not None and run_id != header:
            raise ValidationFailedError(
                "The Idempotency-Key header and the body's run_id name different keys.",
                errors=[{"path": "$.run_id", "message": "differs from Idempotency-Key"}],
            )
        return header

    async def execute(
        self,
        request: RebalanceRequest,
        options: ExecuteOptions,
        idempotency_key: str | None = None,
    ) -> Executed:
        """Answer ``POST /rebalancing/execute``.

        A submit under an idempotency key (the ``Idempotency-Key`` header or the body's
        ``run_id``) is recorded once: the same key with the same request gets the stored
        answer back (``replayed``) and records nothing; with another request it is a 409.

        Args:
            request: the decoded request.
            options: the query flags and the live-guard header.
            idempotency_key: the ``Idempotency-Key`` header, when sent.

        Raises:
            AppError: 403 (shared account disabled, live guard), 409 (the key was used
                with another request), 422 (policy breach, ambiguous overlay, invalid
                request or key), WorldService errors passed through, 503 when the store
                cannot record a submit.
        """
        scope = self._check(options)
        key = self.idempotency_key(request, idempotency_key)
        fingerprint = self.fingerprint(request, options)
        execution_id = None
        if options.submit and key is not None:
            execution_id = keyed_execution_id(key)
            stored = await self._stored(execution_id)
            if stored is not None:  # a retry: the first answer, nothing recorded again
                return self._replay(stored, fingerprint, key)
        negotiated = await self.client.plan(request)
        try:
            executed = await self._respond(
                request, negotiated.plan, negotiated.schema_version, scope, options.submit,
                fingerprint=fingerprint, execution_id=execution_id,
            )
        except ConflictError as exc:  # a concurrent submit of another request won the key
            if key is None:
                raise
            raise _key_conflict(key, execution_id) from exc
        if self.metrics is not None and not executed.replayed:
            self.metrics.execution_recorded(submitted=options.submit)
        return executed

    async def execute_plan(self, request: RebalanceRequest, plan: PlanResponse) -> dict[str, Any]:
        """Submit ``plan`` per world, as ``/rebalancing/execute?submit=true`` would.

        Used by WorldService allocations with ``execute: true`` in a deployment that also
        runs the Gateway. The caller is the operator's allocation call, so the live guard
        header is not required here. An allocation run is executed once: its execution id
        derives from ``run_id``, so retries (even concurrent ones) get the first execution.

        Returns:
            The decoded ``ExecuteResponse`` (with ``execution_id``).
        """
        version = 2 if isinstance(plan, PlanV2) else 1
        execution_id = None
        if plan.run_id is not None:  # a retried allocation run gets its first execution back
            execution_id = allocation_execution_id(plan.run_id)
            stored = await self._stored(execution_id)
            if stored is not None:
                replay: dict[str, Any] = msgspec.json.decode(stored.response)
                return replay
        executed = await self._respond(
            request, plan, version, "per_world", True, execution_id=execution_id,
            fingerprint=f"allocations:{plan.run_id}",
        )
        if self.metrics is not None and not executed.replayed:
            self.metrics.execution_recorded(submitted=True)
        result: dict[str, Any] = msgspec.json.decode(executed.content)
        return result

    async def _stored(self, execution_id: str) -> ExecutionRecord | None:
        try:
            return await self.store.get_execution(execution_id)
        except AppError:
            raise
        except Exception as exc:  # any store failure: answer 503, never a guess
            log.error("execution_read_failed", execution_id=execution_id, error=repr(exc))
            raise ServiceUnavailableError(
                "The execution store is unavailable; nothing was submitted.",
                code=Code.STORE_UNAVAILABLE,
            ) from exc

    @staticmethod
    def _replay(stored: ExecutionRecord, fingerprint: str, key: str) -> Executed:
        if stored.request_hash != fingerprint:
            raise _key_conflict(key, stored.execution_id)
        log.info("execution_replayed", execution_id=stored.execution_id)
        return Executed(content=stored.response, replayed=True)

    async def _respond(
        self,
        request: RebalanceRequest,
        plan: PlanResponse,
        version: int,
        scope: Scope,
        submit: bool,
        *,
        fingerprint: str,
        execution_id: str | None = None,
    ) -> Executed:
        gw = self.settings.gateway
        conversion = convert_plan(
            request, plan, self.rules, scope=scope, flip_policy=gw.flip_policy
        )
        figures = None
        if scope == "global":
            figures = figures_of(conversion, request.total_equity)
            check_policy(figures, gw.shared_account_policy)
        capable = gw.alpha_metrics_capable and version >= 2 and alpha_metrics_present(plan)
        per_world: dict[str, list[Order]] = {}
        global_orders: list[Order] | None = None
        for batch in conversion.batches:
            if batch.world_id == GLOBAL_BATCH and scope == "global":
                global_orders = batch.orders
            else:
                per_world[batch.world_id] = batch.orders
        response = ExecuteResponse(
            scope=scope,
            orders_per_world=per_world,
            orders_global=global_orders if scope == "global" else None,
            dropped=conversion.dropped,
            rebalance_schema_version=version,
            alpha_metrics_capable=capable,
            submitted=False,
            shared_account=figures,
            alpha_metrics=plan.alpha_metrics if capable and isinstance(plan, PlanV2) else None,
        )
        if not submit:
            return Executed(content=_encoder.encode(response))
        return await self._submit(response, conversion, version, execution_id, fingerprint)

    async def _submit(
        self,
        response: ExecuteResponse,
        conversion: Conversion,
        version: int,
        fixed_id: str | None,
        fingerprint: str,
    ) -> Executed:
        execution_id = fixed_id or str(uuid.uuid4())
        submitted_at = datetime.now(UTC).isoformat()
        events: list[CloudEvent] = []
        summaries: list[BatchSummary] = []
        for index, batch in enumerate(conversion.batches):
            batch_id = f"{execution_id}-{index}"
            reduce_only = sum(1 for o in batch.orders if o.reduce_only)
            total = len(batch.orders)
            payload = OrdersPayload(
                execution_id=execution_id,
                batch_id=batch_id,
                world_id=batch.world_id,
                scope=batch.scope,
                orders=batch.orders,
                counts=OrderCounts(total=total, reduce_only=reduce_only),
                reduce_only_ratio=reduce_only / total if total else 0.0,
                submitted_at=submitted_at,
                schema_version=version,
                shared_account=response.shared_account,
            )
            event = new_event(
                REBALANCING_ORDERS, EVENT_SOURCE_GATEWAY, payload, subject=batch.world_id
            )
            events.append(event)
            summaries.append(
                BatchSummary(
                    batch_id=batch_id,
                    world_id=batch.world_id,
                    scope=batch.scope,
                    event_id=event.id,
                    total=total,
                    reduce_only=reduce_only,
                )
            )
        final = msgspec.structs.replace(
            response, submitted=True, execution_id=execution_id, batches=summaries
        )
        content = _encoder.encode(final)
        record = ExecutionRecord(
            execution_id=execution_id,
            request_hash=fingerprint,
            response=content,
            batch_ids=[s.batch_id for s in summaries],
            world_ids=[s.world_id for s in summaries],
            created_at=time.time(),
        )
        try:
            stored, inserted = await self.store.save_execution(record, events)
        except AppError:
            raise
        except Exception as exc:  # any store failure: the submit is not acknowledged
            log.exception("execution_store_failed", execution_id=execution_id)
            raise ServiceUnavailableError(
                "The execution could not be recorded; no orders were submitted."
            ) from exc
        if not inserted:  # a concurrent twin was stored first: answer with it, record nothing
            log.info("execution_replayed", execution_id=execution_id)
            return Executed(content=stored.response, replayed=True)
        log.info(
            "execution_submitted",
            execution_id=execution_id,
            batches=len(summaries),
            orders=sum(s.total for s in summaries),
            scope=response.scope,
        )
        if self.nudge is not None:
            self.nudge()
        return Executed(content=content)

    async def get(self, execution_id: str) -> bytes:
        """Return the stored answer of a submitted execution (404 when unknown, 422 when
        ``execution_id`` is not a valid identifier)."""
        record = await self.store.get_execution(check_id(execution_id, "$.execution_id"))
        if record is None:
            raise NotFoundError(f"No execution {execution_id!r}.", code=Code.EXECUTION_NOT_FOUND)
        return record.response


def _key_conflict(key: str, execution_id: str | None) -> ConflictError:
    return ConflictError(
        f"Idempotency key {key!r} was already used to submit a different request "
        "(another body or other query flags); nothing was submitted.",
        code=Code.EXECUTION_CONFLICT,
        extra={"execution_id": execution_id},
    )
