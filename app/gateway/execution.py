"""The execute use case (SPEC §8): plan via WorldService, convert to orders, optionally submit."""

from __future__ import annotations

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
from app.contracts.orders import BatchSummary, ExecuteResponse, Scope
from app.contracts.rebalancing import PlanResponse, PlanV2, RebalanceRequest, schema_version_of
from app.errors import (
    AppError,
    Code,
    ConflictError,
    PermissionDeniedError,
    ServiceUnavailableError,
    ValidationFailedError,
)
from app.gateway.constraints import RuleBook
from app.gateway.idempotency import (
    Executed,
    allocation_execution_id,
    fingerprint,
    idempotency_key,
    key_conflict,
    keyed_execution_id,
)
from app.gateway.negotiation import NegotiatingClient, alpha_metrics_present
from app.gateway.orders import OrderBatch, convert_plan
from app.gateway.risk import RiskBasis
from app.gateway.risk_gate import RiskGate, refused, risk_rejected
from app.gateway.shared_account import check_policy, figures_of
from app.gateway.two_phase import TwoPhase, with_outcome
from app.settings import Settings
from app.store.ports import ExecutionPage, ExecutionRecord, ExecutionStore, PreviewStore
from app.telemetry import AppMetrics

__all__ = ["ExecuteOptions", "Executed", "ExecutionService"]

log = structlog.get_logger(__name__)
_encoder = msgspec.json.Encoder(order="deterministic")


class ExecuteOptions(msgspec.Struct, frozen=True, kw_only=True):
    """Query flags of ``POST /rebalancing/execute`` and the live-guard header."""

    submit: bool = False
    shared_account: bool = False
    per_strategy: bool = False
    allow_live: bool = False
    all_or_nothing: bool = False


class ExecutionService(TwoPhase):
    """Turns rebalance requests into risk-checked orders: previews, and submitted
    executions.

    Args:
        settings: the configuration (``[gateway]`` rules, policies and risk limits).
        client: the negotiating WorldService client.
        store: where submitted executions and their events are recorded.
        gate: the pre-trade risk checks.
        previews: where previews are stored until they are submitted or expire.
        nudge: called after a successful submit to wake the outbox publisher (optional).
        metrics: counts executions (``execution_recorded``), when given.
        clock: the wall clock in seconds (preview expiry).
    """

    def __init__(
        self,
        settings: Settings,
        client: NegotiatingClient,
        store: ExecutionStore,
        gate: RiskGate,
        previews: PreviewStore,
        nudge: Callable[[], None] | None = None,
        metrics: AppMetrics | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.clock = clock
        self.settings = settings
        self.client = client
        self.store = store
        self.gate = gate
        self.previews = previews
        self.nudge = nudge
        self.metrics = metrics
        gw = settings.gateway
        self.rules = RuleBook(gw.instrument_constraints, gw.venue_policies)

    def _check(self, options: ExecuteOptions, request: RebalanceRequest) -> Scope:
        gw = self.settings.gateway
        if options.per_strategy and request.policy is not None:
            raise ValidationFailedError(
                "per_strategy execution cannot honour a rebalancing policy: the policy "
                "applies to the netted deltas of each world, which per-strategy batches do "
                "not trade. Execute per world (or shared account), or leave the policy out.",
                errors=[{"path": "$.policy", "message": "not allowed with per_strategy=true"}],
            )
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
        if options.submit:
            self.live_guard(options.allow_live)
        if options.shared_account:
            return "global"
        return "per_strategy" if options.per_strategy else "per_world"

    async def execute(
        self,
        request: RebalanceRequest,
        options: ExecuteOptions,
        key_header: str | None = None,
    ) -> Executed:
        """Answer ``POST /rebalancing/execute``: the encoded ``ExecuteResponse``.

        A submit under an idempotency key (the ``Idempotency-Key`` header or the body's
        ``run_id``) is recorded once: the same key with the same request gets the stored
        answer back (``replayed``) and records nothing; with another request it is a 409.

        Args:
            request: the decoded request.
            options: the query flags and the live-guard header.
            key_header: the ``Idempotency-Key`` header, when sent.

        Raises:
            AppError: 403 (shared account disabled, live guard), 409 (the key was used
                with another request), 422 (policy breach, ambiguous overlay, invalid
                request or key, ``E_RISK_REJECTED``, a rebalancing policy with
                per_strategy), WorldService errors passed through, 503 when the store
                cannot record a submit.
        """
        scope = self._check(options, request)
        key = idempotency_key(request, key_header)
        digest = fingerprint(
            request,
            shared_account=options.shared_account,
            per_strategy=options.per_strategy,
            all_or_nothing=options.all_or_nothing,
        )
        execution_id = None
        if options.submit and key is not None:
            execution_id = keyed_execution_id(key)
            stored = await self._stored(execution_id)
            if stored is not None:  # a retry: the first answer, nothing recorded again
                if stored.request_hash != digest:
                    raise key_conflict(key, execution_id)
                log.info("execution_replayed", execution_id=execution_id)
                return Executed(content=stored.response, replayed=True)
        negotiated = await self.client.plan(request)
        try:
            executed = await self._respond(
                request, negotiated.plan, negotiated.schema_version, scope, options.submit,
                fingerprint=digest, execution_id=execution_id,
                all_or_nothing=options.all_or_nothing,
            )
        except ConflictError as exc:  # a concurrent submit of another request won the key
            if key is None or not options.submit:
                raise
            raise key_conflict(key, execution_id) from exc
        if self.metrics is not None and not executed.replayed:
            self.metrics.execution_recorded(submitted=options.submit)
        return executed

    async def execute_plan(self, request: RebalanceRequest, plan: PlanResponse) -> dict[str, Any]:
        """Submit ``plan`` per world, as ``/rebalancing/execute?submit=true`` would.

        Used by WorldService allocations with ``execute: true`` in a deployment that also
        runs the Gateway. The caller is the operator's allocation call, so the live guard
        header is not required here. An allocation run is executed once: its execution id
        derives from ``run_id``, so retries (concurrent ones too) get the first execution.

        Returns:
            The decoded ``ExecuteResponse`` (with ``execution_id``).
        """
        version = schema_version_of(plan)
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
        all_or_nothing: bool = False,
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
        worlds = {p.world_id: None for p in request.positions}
        worlds.update(dict.fromkeys(plan.per_world))
        basis = RiskBasis(
            scope=scope,
            batches=conversion.batches,
            holdings=conversion.holdings,
            worlds=sorted(worlds),
            all_or_nothing=all_or_nothing,
        )
        outcome = await self.gate.judge(basis, "submit" if submit else "preview")
        response = with_outcome(
            ExecuteResponse(
                scope=scope,
                orders_per_world={},
                dropped=conversion.dropped,
                rebalance_schema_version=version,
                alpha_metrics_capable=capable,
                submitted=False,
                overlay_deltas=plan.overlay_deltas,
                shared_account=True if figures is not None else None,
                shared_account_figures=figures,
                alpha_metrics=(
                    plan.alpha_metrics if capable and isinstance(plan, PlanV2) else None
                ),
                all_or_nothing=all_or_nothing,
            ),
            outcome,
        )
        if not submit:
            return Executed(content=await self.save_preview(response, basis, outcome, fingerprint))
        if refused(outcome, all_or_nothing):
            raise risk_rejected(outcome, all_or_nothing)
        return await self._submit(response, outcome.batches, version, execution_id, fingerprint)

    async def _submit(
        self,
        response: ExecuteResponse,
        batches: list[OrderBatch],
        version: int,
        fixed_id: str | None,
        fingerprint: str,
    ) -> Executed:
        execution_id = fixed_id or str(uuid.uuid4())
        submitted_at = datetime.now(UTC).isoformat()
        events: list[CloudEvent] = []
        summaries: list[BatchSummary] = []
        for index, batch in enumerate(batches):
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
                shared_account_figures=response.shared_account_figures,
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
            response,
            submitted=True,
            execution_id=execution_id,
            batches=summaries,
            state="submitted",
            expires_at=None,
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

    async def history(
        self, world_id: str | None, limit: int, before: int | None = None
    ) -> ExecutionPage:
        """Return a page of submitted executions, newest first (see ``list_executions``)."""
        try:
            return await self.store.list_executions(world_id, limit, before)
        except AppError:
            raise
        except Exception as exc:  # any store failure: say so, never a 500
            log.exception("execution_list_failed")
            raise ServiceUnavailableError(
                "The execution store is unavailable.", code=Code.STORE_UNAVAILABLE
            ) from exc

    async def get(self, execution_id: str) -> bytes:
        """Return the stored answer of an execution: submitted, else its preview.

        Raises:
            ValidationFailedError: ``execution_id`` is not a valid identifier (422).
            NotFoundError: no execution or preview has this id (404).
            AppError: the preview has expired (410 ``E_PREVIEW_EXPIRED``).
        """
        record = await self.store.get_execution(check_id(execution_id, "$.execution_id"))
        if record is None:
            return await self.read_preview(execution_id)
        return record.response
