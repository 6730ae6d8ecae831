"""Gateway health, status and readiness (SPEC §8): bounded probes, briefly cached."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime

import anyio
import msgspec
import structlog

from app import __version__
from app.contracts.health import (
    Capabilities,
    ComponentState,
    HealthReport,
    StatusReport,
)
from app.contracts.risk import RestrictedView, RiskLimitsSummary, RiskLimitsView
from app.contracts.worldservice_client import WorldServiceCapabilities, WorldServiceClient
from app.errors import AppError
from app.runtime.lifecycle import Component
from app.settings import Settings, redact_url

__all__ = ["GatewayHealth", "Probe"]

log = structlog.get_logger(__name__)

Probe = Callable[[], Awaitable[bool]]
"""A component check: True when the component answers."""


class _Observation(msgspec.Struct, frozen=True, kw_only=True):
    """The result of one probe round; reports are built from it, never modified."""

    worldservice: ComponentState
    controlbus: ComponentState
    store: ComponentState
    worldservice_caps: WorldServiceCapabilities | None
    at: float


class GatewayHealth(Component):
    """Probes WorldService, the ControlBus and the store, and builds health reports.

    Each probe is bounded by ``gateway.probe_timeout``; a probe round is reused for
    ``gateway.health_cache_seconds``. A new frozen report is built for every call, so no
    caller can change what another one sees. A component: entered last, it marks ``/ready``.

    Args:
        settings: the configuration.
        client: the WorldService client adapter.
        probes: ``{"controlbus": ..., "store": ...}``; a missing one reports ``absent``.
    """

    def __init__(
        self,
        settings: Settings,
        client: WorldServiceClient,
        probes: Mapping[str, Probe],
    ) -> None:
        self.settings = settings
        self.client = client
        self.probes = dict(probes)
        self.ready = False
        self._cached: _Observation | None = None
        self._lock = anyio.Lock()

    async def start(self) -> None:
        """Mark the Gateway ready (the lifespan has started every component before)."""
        self.ready = True

    async def close(self) -> None:
        """Mark the Gateway not ready."""
        self.ready = False

    async def _probe(self, name: str, probe: Probe | None) -> ComponentState:
        if probe is None:
            return "absent"
        try:
            with anyio.fail_after(self.settings.gateway.probe_timeout):
                ok = await probe()
        except TimeoutError:
            log.warning("health_probe_timeout", component=name)
            return "down"
        except (AppError, OSError, ConnectionError) as exc:
            log.warning("health_probe_failed", component=name, error=str(exc))
            return "down"
        return "ok" if ok else "down"

    async def _worldservice(self) -> tuple[ComponentState, WorldServiceCapabilities | None]:
        try:
            with anyio.fail_after(self.settings.gateway.probe_timeout):
                return "ok", await self.client.capabilities()
        except TimeoutError:
            log.warning("health_probe_timeout", component="worldservice")
        except AppError as exc:
            if exc.status == 404:  # a QMTL WorldService: it answers, but has no capabilities
                return "ok", None
            log.warning("health_probe_failed", component="worldservice", error=exc.detail)
        return "down", None

    async def observe(self) -> _Observation:
        """Return a probe round no older than ``health_cache_seconds``."""
        ttl = self.settings.gateway.health_cache_seconds
        cached = self._cached
        if cached is not None and time.monotonic() - cached.at < ttl:
            return cached
        async with self._lock:
            cached = self._cached  # another request may have probed while we waited
            if cached is not None and time.monotonic() - cached.at < ttl:
                return cached
            results: dict[str, ComponentState] = {}
            ws: list[tuple[ComponentState, WorldServiceCapabilities | None]] = [("down", None)]

            async def run(name: str) -> None:
                results[name] = await self._probe(name, self.probes.get(name))

            async def run_ws() -> None:
                ws[0] = await self._worldservice()

            async with anyio.create_task_group() as tg:
                tg.start_soon(run, "controlbus")
                tg.start_soon(run, "store")
                tg.start_soon(run_ws)
            fresh = _Observation(
                worldservice=ws[0][0],
                controlbus=results["controlbus"],
                store=results["store"],
                worldservice_caps=ws[0][1],
                at=time.monotonic(),
            )
            self._cached = fresh
            return fresh

    def capabilities(self) -> Capabilities:
        """Return the configured capability bits."""
        gw = self.settings.gateway
        return Capabilities(
            rebalance_schema_version=gw.rebalance_schema_version,
            alpha_metrics_capable=gw.alpha_metrics_capable,
            compute_context_contract=gw.compute_context_contract,
        )

    async def serving(self) -> str | None:
        """Say why the Gateway cannot serve now, or None when it can (``GET /ready``).

        Ready means started and the store takes writes (the probe round's write probe, at
        most ``health_cache_seconds`` old): every mutating route writes there.
        """
        if not self.ready:
            return "The Gateway is not ready yet (starting or shutting down)."
        seen = await self.observe()
        if seen.store == "down":
            return "The record store does not take writes; mutating requests would fail."
        return None

    def risk_limits(self) -> RiskLimitsView:
        """The pre-trade limits in force (``gateway.risk``), restricted lists included."""
        risk = self.settings.gateway.risk
        restricted = risk.restricted
        return RiskLimitsView(
            max_order_notional=risk.max_order_notional,
            max_world_gross_notional=risk.max_world_gross_notional,
            max_orders_per_execution=risk.max_orders_per_execution,
            order_rate_per_minute=risk.order_rate_per_minute,
            preview_ttl_seconds=risk.preview_ttl_seconds,
            restricted=RestrictedView(
                do_not_buy=sorted(restricted.do_not_buy),
                do_not_sell=sorted(restricted.do_not_sell),
                by_world={
                    world: {
                        "do_not_buy": sorted(lists.do_not_buy),
                        "do_not_sell": sorted(lists.do_not_sell),
                    }
                    for world, lists in sorted(restricted.by_world.items())
                },
            ),
        )

    def risk_summary(self) -> RiskLimitsSummary:
        """The limits as ``/health`` shows them: the figures, and how many symbols are
        restricted (the lists themselves are at ``GET /risk/limits``)."""
        risk = self.settings.gateway.risk
        restricted = risk.restricted
        symbols = set(restricted.do_not_buy) | set(restricted.do_not_sell)
        for lists in restricted.by_world.values():
            symbols |= set(lists.do_not_buy) | set(lists.do_not_sell)
        return RiskLimitsSummary(
            max_order_notional=risk.max_order_notional,
            max_world_gross_notional=risk.max_world_gross_notional,
            max_orders_per_execution=risk.max_orders_per_execution,
            order_rate_per_minute=risk.order_rate_per_minute,
            preview_ttl_seconds=risk.preview_ttl_seconds,
            restricted_symbols=len(symbols),
            restricted_worlds=len(restricted.by_world),
        )

    async def health(self) -> HealthReport:
        """Build a ``GET /health`` report."""
        seen = await self.observe()
        caps = self.capabilities()
        reasons = [
            f"{name} is down"
            for name in ("worldservice", "controlbus")
            if getattr(seen, name) == "down"
        ]
        if seen.store == "down":
            reasons.append("store is down (it does not take writes)")
        max_version = seen.worldservice_caps.max_schema_version if seen.worldservice_caps else None
        if max_version is not None and caps.rebalance_schema_version > max_version:
            reasons.append(
                f"gateway.rebalance_schema_version is {caps.rebalance_schema_version} but "
                f"WorldService serves at most schema version {max_version}"
            )
        return HealthReport(
            status="degraded" if reasons else "ok",
            worldservice=seen.worldservice,
            controlbus=seen.controlbus,
            store=seen.store,
            capabilities=caps,
            rebalance_schema_version=caps.rebalance_schema_version,
            alpha_metrics_capable=caps.alpha_metrics_capable,
            worldservice_max_schema_version=max_version,
            reason="; ".join(reasons) if reasons else None,
            checked_at=datetime.now(UTC).isoformat(),
            risk=self.risk_summary(),
        )

    async def status(self) -> StatusReport:
        """Build a ``GET /status`` report: health plus the running configuration."""
        report = await self.health()
        seen = await self.observe()
        gw = self.settings.gateway
        ws = seen.worldservice_caps
        return StatusReport(
            health=report,
            version=__version__,
            roles=list(self.settings.server.roles),
            worldservice_mode="http" if gw.worldservice_url else "in_process",
            worldservice_url=(
                redact_url(gw.worldservice_url) if gw.worldservice_url is not None else None
            ),
            enforce_live_guard=gw.enforce_live_guard,
            flip_policy=gw.flip_policy,
            shared_account_enabled=gw.shared_account_policy.enabled,
            venue_policies=len(gw.venue_policies),
            instrument_constraints=len(gw.instrument_constraints),
            worldservice_compat_rebalance_v2=ws.compat_rebalance_v2 if ws else None,
            worldservice_alpha_metrics_required=ws.alpha_metrics_required if ws else None,
            worldservice_compat_rebalance_v3=ws.compat_rebalance_v3 if ws else None,
        )
