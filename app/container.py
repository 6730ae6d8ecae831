"""The composition root: the only module that names concrete adapters.

Adapters are imported inside small factory functions, so a process only loads the code of
the adapters and roles its configuration selects (a gateway-only process never imports
WorldService).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dependency_injector import containers, providers

from app.errors import ConfigError
from app.runtime.shutdown import OUTBOX_FLUSH_SHARE, STORE_CLOSE_SHARE, Drain
from app.settings import Settings
from app.telemetry import AppMetrics

if TYPE_CHECKING:
    from collections.abc import Callable

    from app.contracts.execution import PlanExecutor
    from app.contracts.worldservice_client import WorldServiceCapabilities, WorldServiceClient
    from app.controlbus.ports import ControlBus
    from app.gateway.execution import ExecutionService
    from app.gateway.health import GatewayHealth
    from app.gateway.negotiation import NegotiatingClient
    from app.gateway.relay import EventRelay
    from app.gateway.risk_gate import RiskGate
    from app.gateway.trading_states import TradingStates
    from app.store.outbox import OutboxPublisher
    from app.store.ports import Store
    from app.web.audit import AuditTrail
    from app.web.keys import KeyRing
    from app.worldservice.allocations import AllocationsService
    from app.worldservice.applying import ApplyingService
    from app.worldservice.plans import PlanningService

__all__ = ["Container", "build_container"]


def _planning_service(settings: Settings, metrics: AppMetrics) -> PlanningService:
    from app.worldservice.plans import PlanningService

    return PlanningService(settings, metrics)


def _worldservice_capabilities(settings: Settings) -> WorldServiceCapabilities:
    from app.worldservice.versions import capabilities_of

    return capabilities_of(settings.worldservice.server)


def _sqlite_store(settings: Settings) -> Store:
    from app.store.adapters.sqlite import SqliteStore

    return SqliteStore(settings.store.sqlite_path, single_owner=settings.store.single_owner)


def _postgres_store(settings: Settings) -> Store:
    from app.store.adapters.postgres import PostgresStore

    store = settings.store
    return PostgresStore(
        store.postgres_dsn,
        pool_size=store.postgres_pool_size,
        connect_timeout=store.postgres_connect_timeout,
        statement_timeout=store.postgres_statement_timeout,
        # Part of the shutdown budget (see app.runtime.serving).
        close_timeout=settings.server.shutdown_timeout * STORE_CLOSE_SHARE,
        exclusive=store.single_owner,
    )


def _event_relay(
    settings: Settings,
    bus: ControlBus,
    store: Store,
    outbox: OutboxPublisher,
    metrics: AppMetrics,
    drain: Drain,
) -> EventRelay:
    from app.gateway.relay import EventRelay

    relay = EventRelay(bus, store, settings.gateway.relay, metrics=metrics)
    # Events committed in this process are read at once, not after the outbox's bus round.
    outbox.on_nudge(relay.wake)
    drain.add_hook(relay.close_clients)  # clients see 1001 before the server closes sockets
    return relay


def _memory_controlbus(settings: Settings) -> ControlBus:
    from app.controlbus.adapters.memory import MemoryControlBus

    return MemoryControlBus(subscriber_buffer=settings.controlbus.subscriber_buffer)


def _outbox_publisher(
    settings: Settings, store: Store, bus: ControlBus, metrics: AppMetrics
) -> OutboxPublisher:
    from app.store.outbox import OutboxPublisher

    return OutboxPublisher(
        store,
        bus,
        poll_interval=settings.outbox.poll_interval,
        batch_size=settings.outbox.batch_size,
        lease_seconds=settings.outbox.lease_seconds,
        retention_count=settings.store.event_retention_count,
        retention_seconds=settings.store.event_retention_seconds,
        # Part of the shutdown budget (see app.runtime.serving).
        flush_timeout=settings.server.shutdown_timeout * OUTBOX_FLUSH_SHARE,
        metrics=metrics,
    )


def _applying(
    settings: Settings, store: Store, outbox: OutboxPublisher, metrics: AppMetrics
) -> ApplyingService:
    from app.worldservice.applying import ApplyingService

    return ApplyingService(settings, store, on_events=outbox.nudge, metrics=metrics)


def _allocations(
    settings: Settings,
    store: Store,
    executor: PlanExecutor | None,
    outbox: OutboxPublisher,
    metrics: AppMetrics,
) -> AllocationsService:
    from app.worldservice.allocations import AllocationsService

    return AllocationsService(
        settings, store, executor=executor, on_events=outbox.nudge, metrics=metrics
    )


def _redis_controlbus(settings: Settings) -> ControlBus:
    from app.controlbus.adapters.redis_streams import RedisStreamsControlBus

    bus = settings.controlbus
    return RedisStreamsControlBus(
        bus.redis_url,
        stream_prefix=bus.stream_prefix,
        stream_maxlen=bus.stream_maxlen,
        subscriber_buffer=bus.subscriber_buffer,
    )


def _worldservice_mode(settings: Settings) -> str:
    return "http" if settings.gateway.worldservice_url else "in_process"


def _in_process_worldservice(
    capabilities: WorldServiceCapabilities,
    planning: PlanningService,
    applying: ApplyingService,
    allocations: Callable[[], AllocationsService],
) -> WorldServiceClient:
    from app.worldservice.face import InProcessWorldService

    return InProcessWorldService(capabilities, planning, applying, allocations)


def _http_worldservice(settings: Settings) -> WorldServiceClient:
    from app.gateway.http_client import HttpWorldServiceClient

    gw = settings.gateway
    assert gw.worldservice_url is not None
    tokens = settings.security.api_tokens
    # The secret of a key WorldService accepts (scopes read, plan, apply); a deployment still
    # on a shared legacy token list falls back to its first token.
    token = gw.worldservice_api_key or (tokens[0] if tokens else None)
    return HttpWorldServiceClient(
        gw.worldservice_url,
        timeout=gw.worldservice_timeout,
        retries=gw.worldservice_retries,
        token=token,
    )


def _negotiating_client(settings: Settings, client: WorldServiceClient) -> NegotiatingClient:
    from app.gateway.negotiation import NegotiatingClient

    return NegotiatingClient(client, settings.gateway.rebalance_schema_version)


def _gateway_health(
    settings: Settings, client: WorldServiceClient, store: Store, bus: ControlBus
) -> GatewayHealth:
    from app.gateway.health import GatewayHealth

    # The store probe writes: a store that answers reads but refuses writes is not ready.
    return GatewayHealth(settings, client, {"store": store.probe_write, "controlbus": bus.ping})


def _risk_gate(settings: Settings, store: Store) -> RiskGate:
    from app.gateway.risk_gate import RiskGate

    return RiskGate(settings.gateway.risk, store)


def _trading_states(store: Store, outbox: OutboxPublisher) -> TradingStates:
    from app.gateway.trading_states import TradingStates

    return TradingStates(store, nudge=outbox.nudge)


def _execution(
    settings: Settings,
    client: NegotiatingClient,
    store: Store,
    gate: RiskGate,
    outbox: OutboxPublisher,
    metrics: AppMetrics,
) -> ExecutionService:
    from app.gateway.execution import ExecutionService

    return ExecutionService(
        settings, client, store, gate, store, nudge=outbox.nudge, metrics=metrics
    )


def _key_ring(settings: Settings, store: Store) -> KeyRing:
    from app.web.keys import KeyRing, configured_keys

    sec = settings.security
    return KeyRing(
        store,
        configured_keys(settings),
        refresh_seconds=sec.key_refresh_seconds,
        default_rate_per_minute=sec.default_rate_per_minute,
    )


def _audit_trail(store: Store, outbox: OutboxPublisher) -> AuditTrail:
    from app.web.audit import AuditTrail

    return AuditTrail(store, nudge=outbox.nudge)


class Container(containers.DeclarativeContainer):
    """Providers for every component; tests override them with real in-memory fakes."""

    settings = providers.Dependency(instance_of=Settings)

    # Prometheus instruments on a registry owned by this container (one per app).
    metrics = providers.Singleton(AppMetrics)
    # Graceful shutdown: drain hooks and open WebSockets, closed with 1001 on SIGTERM.
    drain = providers.Singleton(Drain)

    # WorldService plan use case (pure planning behind negotiation and validation).
    planning = providers.Singleton(_planning_service, settings, metrics)
    # What this WorldService serves (GET /worldservice/capabilities, the in-process face).
    worldservice_capabilities = providers.Singleton(_worldservice_capabilities, settings)

    # Record store (plans, allocations, executions, event outbox), picked by [store] backend.
    store = providers.Selector(
        settings.provided.store.backend,
        sqlite=providers.Singleton(_sqlite_store, settings),
        postgres=providers.Singleton(_postgres_store, settings),
    )

    # ControlBus, picked by [controlbus] backend.
    controlbus = providers.Selector(
        settings.provided.controlbus.backend,
        memory=providers.Singleton(_memory_controlbus, settings),
        redis=providers.Singleton(_redis_controlbus, settings),
    )

    # Background publisher moving stored events (the outbox) to the ControlBus.
    outbox_publisher = providers.Singleton(
        _outbox_publisher, settings, store, controlbus, metrics
    )
    # Hands allocation plans to the Gateway (`execute: true`); None = no execution path.
    plan_executor: providers.Provider[PlanExecutor | None] = providers.Object(None)
    # WorldService record use cases: apply, allocations.
    applying = providers.Singleton(_applying, settings, store, outbox_publisher, metrics)
    allocations = providers.Singleton(
        _allocations, settings, store, plan_executor, outbox_publisher, metrics
    )

    # Gateway event log -> WebSocket relay (`WS /events`), woken by the ControlBus; a
    # component when the gateway runs.
    relay = providers.Singleton(
        _event_relay, settings, controlbus, store, outbox_publisher, metrics, drain
    )

    # Gateway -> WorldService client: in-process unless gateway.worldservice_url is set.
    worldservice_client = providers.Selector(
        providers.Callable(_worldservice_mode, settings),
        in_process=providers.Singleton(
            _in_process_worldservice,
            worldservice_capabilities,
            planning,
            applying,
            allocations.provider,  # looked up when first used: allocations → executor → here
        ),
        http=providers.Singleton(_http_worldservice, settings),
    )
    negotiating_client = providers.Singleton(_negotiating_client, settings, worldservice_client)
    # Gateway health/status/readiness; the last component when the gateway runs.
    gateway_health = providers.Singleton(
        _gateway_health, settings, worldservice_client, store, controlbus
    )
    # Gateway pre-trade risk: the checks fed with stored trading states and rate buckets.
    risk_gate = providers.Singleton(_risk_gate, settings, store)
    # Gateway trading states (GET/PUT /risk/...), written with their events.
    trading_states = providers.Singleton(_trading_states, store, outbox_publisher)
    # Gateway execute use case (risk-checked orders, previews, submit, read-back).
    execution = providers.Singleton(
        _execution, settings, negotiating_client, store, risk_gate, outbox_publisher, metrics
    )

    # API keys (configured and stored), reloaded every few seconds; checked per request.
    key_ring = providers.Singleton(_key_ring, settings, store)
    # The audit log writer (group commit) and reader.
    audit_trail = providers.Singleton(_audit_trail, store, outbox_publisher)

    # Components (async context managers), in start order; they close in reverse order.
    components = providers.List(store, controlbus, outbox_publisher, key_ring, audit_trail)


def build_container(settings: Settings) -> Container:
    """Create the container for ``settings``.

    Raises:
        ConfigError: a gateway-only process has no ``gateway.worldservice_url``.
    """
    if "worldservice" not in settings.server.roles and not settings.gateway.worldservice_url:
        # A gateway-only process never loads WorldService code: it must call one over HTTP.
        raise ConfigError(
            'server.roles = ["gateway"] needs gateway.worldservice_url '
            '(e.g. "http://worldservice:8000/worldservice")'
        )
    from app.web.keys import configured_keys

    configured_keys(settings)  # a bad [[security.keys]] entry stops the start here
    container = Container(settings=settings)
    if "gateway" in settings.server.roles:
        container.components.add_args(container.relay)
        container.plan_executor.override(container.execution)  # allocations with execute
        if settings.gateway.worldservice_url:
            container.components.add_args(container.worldservice_client)  # closes its pool
        container.components.add_args(container.gateway_health)  # last: marks /ready
    return container
