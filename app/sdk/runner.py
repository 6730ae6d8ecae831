"""The strategy Runner: reads the Gateway's capability bits and negotiates v1/v2 plans."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar, overload

import msgspec

from app.contracts.rebalancing import PlanResponse, RebalanceIntent, RebalanceRequest
from app.sdk.calls import RequestLike
from app.sdk.client import AsyncGatewayClient, GatewayClient
from app.sdk.errors import Unreachable
from app.sdk.logs import get_logger
from app.sdk.wire import GatewayHealth

__all__ = [
    "EffectiveCapabilities",
    "ReturnsByStrategy",
    "Runner",
    "effective_capabilities",
    "shape_request",
]

log = get_logger(__name__)


class EffectiveCapabilities(msgspec.Struct, frozen=True, kw_only=True):
    """What the Runner will actually use, derived from the last ``/health``.

    Attributes:
        schema_version: 2 only when the Gateway advertises ≥ 2 and is alpha-capable, else 1.
        alpha_metrics: whether plans will carry (and the Runner will send) metrics.
        advertised_schema_version: the Gateway's ``rebalance_schema_version``.
        advertised_alpha_metrics: the Gateway's ``alpha_metrics_capable``.
        reachable: False when the last health read failed (the Runner then uses v1).
        status: the Gateway's ``status`` (``unreachable`` when it could not be read).
    """

    schema_version: int
    alpha_metrics: bool
    advertised_schema_version: int
    advertised_alpha_metrics: bool
    reachable: bool = True
    status: str = "ok"


def effective_capabilities(health: GatewayHealth | None) -> EffectiveCapabilities:
    """Derive the effective capabilities from a health answer (None = unreachable)."""
    if health is None:
        return EffectiveCapabilities(
            schema_version=1, alpha_metrics=False, advertised_schema_version=1,
            advertised_alpha_metrics=False, reachable=False, status="unreachable",
        )
    v2 = health.rebalance_schema_version >= 2 and health.alpha_metrics_capable
    return EffectiveCapabilities(
        schema_version=2 if v2 else 1,
        alpha_metrics=v2,
        advertised_schema_version=health.rebalance_schema_version,
        advertised_alpha_metrics=health.alpha_metrics_capable,
        status=health.status,
    )


ReturnsByStrategy = Mapping[str, Mapping[str, Sequence[float]]]


_V2_KEYS = ("schema_version", "rebalance_intent", "realized_returns_by_world",
            "realized_returns_by_strategy")


def _returns_by_strategy(
    *sources: ReturnsByStrategy | None,
) -> dict[str, dict[str, list[float]]]:
    out: dict[str, dict[str, list[float]]] = {}
    for source in sources:
        for world, strategies in (source or {}).items():
            for strategy, series in strategies.items():
                out.setdefault(world, {})[strategy] = [float(r) for r in series]
    return out


def _shape_mapping(
    request: Mapping[str, Any],
    caps: EffectiveCapabilities,
    by_strategy: dict[str, dict[str, list[float]]],
    by_world: dict[str, list[float]],
    intent: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """``shape_request`` for a plain dict: the same keys set or removed, the rest kept
    as given (fields this SDK does not know travel unchanged)."""
    data = dict(request)
    if caps.schema_version < 2:
        for key in _V2_KEYS:
            data.pop(key, None)
        return data
    data["schema_version"] = 2
    data["rebalance_intent"] = {"meta": dict(intent or {})}
    if by_world:
        data["realized_returns_by_world"] = by_world
    if by_strategy:
        data["realized_returns_by_strategy"] = by_strategy
    return data


@overload
def shape_request(
    request: RebalanceRequest, caps: EffectiveCapabilities, *,
    recorded: ReturnsByStrategy | None = ..., returns_by_strategy: ReturnsByStrategy | None = ...,
    returns_by_world: Mapping[str, Sequence[float]] | None = ...,
    intent: Mapping[str, Any] | None = ...,
) -> RebalanceRequest: ...


@overload
def shape_request(
    request: Mapping[str, Any], caps: EffectiveCapabilities, *,
    recorded: ReturnsByStrategy | None = ..., returns_by_strategy: ReturnsByStrategy | None = ...,
    returns_by_world: Mapping[str, Sequence[float]] | None = ...,
    intent: Mapping[str, Any] | None = ...,
) -> dict[str, Any]: ...


def shape_request(
    request: RequestLike,
    caps: EffectiveCapabilities,
    *,
    recorded: ReturnsByStrategy | None = None,
    returns_by_strategy: ReturnsByStrategy | None = None,
    returns_by_world: Mapping[str, Sequence[float]] | None = None,
    intent: Mapping[str, Any] | None = None,
) -> RebalanceRequest | dict[str, Any]:
    """Shape a request for ``caps``: v2 with returns and intent, or a clean v1 one.

    Args:
        request: the base request, a ``RebalanceRequest`` or a plain dict in the wire shape
            (its own v2 fields are replaced; a dict comes back as a new dict).
        caps: the effective capabilities.
        recorded: returns recorded so far, ``{world: {strategy: returns}}``.
        returns_by_strategy: more strategy returns, taking precedence over ``recorded``.
        returns_by_world: ``{world: returns}``.
        intent: ``rebalance_intent.meta``.

    Returns:
        With v2: ``schema_version=2``, the returns and the intent. With v1: no
        ``schema_version``, no returns and no intent (what a v1 client sends).
    """
    by_strategy = (_returns_by_strategy(recorded, returns_by_strategy)
                   if caps.schema_version >= 2 else {})
    by_world = {w: [float(r) for r in s] for w, s in (returns_by_world or {}).items()}
    if not isinstance(request, RebalanceRequest):
        return _shape_mapping(request, caps, by_strategy, by_world, intent)
    if caps.schema_version < 2:
        return msgspec.structs.replace(
            request, schema_version=None, rebalance_intent=None,
            realized_returns_by_world=None, realized_returns_by_strategy=None,
        )
    return msgspec.structs.replace(
        request,
        schema_version=2,
        rebalance_intent=RebalanceIntent(meta=dict(intent or {})),
        realized_returns_by_world=by_world or request.realized_returns_by_world,
        realized_returns_by_strategy=by_strategy or request.realized_returns_by_strategy,
    )


C = TypeVar("C", GatewayClient, AsyncGatewayClient)


class _Negotiation(Generic[C]):
    """The Runner's decisions without its I/O: when to re-read ``/health``, which version
    the answer allows, and how to shape a request for it (shared by both Runners).

    Args:
        client: the Gateway client (the Runner does not close it).
        refresh_interval: seconds between health reads; 0 reads before every call.
        clock: monotonic clock (seconds), for tests.
    """

    _log: Any = log

    def __init__(
        self,
        client: C,
        *,
        refresh_interval: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client: C = client
        self.refresh_interval = refresh_interval
        self._clock = clock
        self._checked_at: float | None = None
        self._caps = effective_capabilities(None)
        self.health: GatewayHealth | None = None
        self._returns: dict[str, dict[str, list[float]]] = {}

    def record_returns(self, world_id: str, strategy_id: str, returns: Sequence[float]) -> None:
        """Append a strategy's realized per-period returns (sent with v2 plans)."""
        self._returns.setdefault(world_id, {}).setdefault(strategy_id, []).extend(
            float(r) for r in returns
        )

    def _due(self) -> bool:
        """Whether ``/health`` must be read before the next call."""
        return self._checked_at is None or self._clock() - self._checked_at >= self.refresh_interval

    def _observe(
        self, health: GatewayHealth | None, failure: Unreachable | None = None
    ) -> EffectiveCapabilities:
        """Take a ``/health`` answer (None with the failure when unreachable)."""
        if failure is not None:
            self._log.warning("runner_health_unreachable", url=self.client.base_url,
                              reason=failure.reason)
        self.health = health
        caps = effective_capabilities(health)
        if caps.schema_version != self._caps.schema_version:
            self._log.info("runner_schema_version_changed", before=self._caps.schema_version,
                           after=caps.schema_version)
        self._caps = caps
        self._checked_at = self._clock()
        return caps

    def _shape(
        self,
        request: RequestLike,
        caps: EffectiveCapabilities,
        returns_by_strategy: ReturnsByStrategy | None,
        returns_by_world: Mapping[str, Sequence[float]] | None,
        intent: Mapping[str, Any] | None,
    ) -> RequestLike:
        return shape_request(
            request, caps, recorded=self._returns, returns_by_strategy=returns_by_strategy,
            returns_by_world=returns_by_world, intent=intent,
        )


class Runner(_Negotiation[GatewayClient]):
    """Plans through a Gateway with the best schema version it currently supports.

    The Runner reads ``/health`` on start and again when ``refresh_interval`` seconds have
    passed. With v2 it sends ``schema_version=2``, the strategies' realized returns and the
    intent, so the plan carries real ``alpha_performance`` metrics; with v1 it sends none of
    them (no ``schema_version`` key at all), exactly what a v1 client sends.

    Args:
        client: the Gateway client (the Runner does not close it).
        refresh_interval: seconds between health reads; 0 reads before every call.
        clock: monotonic clock (seconds), for tests.
    """

    def start(self) -> EffectiveCapabilities:
        """Read ``/health`` now (call once on start)."""
        return self.refresh()

    def refresh(self) -> EffectiveCapabilities:
        """Read ``/health`` now and update the effective capabilities."""
        try:
            health = self.client.health()
        except Unreachable as exc:
            return self._observe(None, exc)
        return self._observe(health)

    @property
    def capabilities(self) -> EffectiveCapabilities:
        """The effective capabilities, re-read when the refresh interval has passed."""
        if self._due():
            self.refresh()
        return self._caps

    @overload
    def build_request(
        self, request: RebalanceRequest, *,
        returns_by_strategy: ReturnsByStrategy | None = ...,
        returns_by_world: Mapping[str, Sequence[float]] | None = ...,
        intent: Mapping[str, Any] | None = ...,
    ) -> RebalanceRequest: ...

    @overload
    def build_request(
        self, request: Mapping[str, Any], *,
        returns_by_strategy: ReturnsByStrategy | None = ...,
        returns_by_world: Mapping[str, Sequence[float]] | None = ...,
        intent: Mapping[str, Any] | None = ...,
    ) -> dict[str, Any]: ...

    def build_request(
        self,
        request: RequestLike,
        *,
        returns_by_strategy: ReturnsByStrategy | None = None,
        returns_by_world: Mapping[str, Sequence[float]] | None = None,
        intent: Mapping[str, Any] | None = None,
    ) -> RequestLike:
        """Shape a request (a ``RebalanceRequest`` or a dict) for the current capabilities
        (see ``shape_request``)."""
        return shape_request(
            request, self.capabilities, recorded=self._returns,
            returns_by_strategy=returns_by_strategy, returns_by_world=returns_by_world,
            intent=intent,
        )

    def plan(
        self,
        request: RequestLike,
        *,
        returns_by_strategy: ReturnsByStrategy | None = None,
        returns_by_world: Mapping[str, Sequence[float]] | None = None,
        intent: Mapping[str, Any] | None = None,
    ) -> PlanResponse:
        """Ask the Gateway for a plan with the negotiated version; v1 or v2 comes back.

        ``request`` is a ``RebalanceRequest`` or a plain dict in the wire shape.
        """
        return self.client.plan(self.build_request(
            request, returns_by_strategy=returns_by_strategy,
            returns_by_world=returns_by_world, intent=intent,
        ))

    def apply(
        self,
        request: RequestLike,
        *,
        run_id: str | None = None,
        returns_by_strategy: ReturnsByStrategy | None = None,
        intent: Mapping[str, Any] | None = None,
    ) -> PlanResponse:
        """Apply a plan through the Gateway with the negotiated version."""
        shaped = self.build_request(request, returns_by_strategy=returns_by_strategy,
                                    intent=intent)
        return self.client.apply(shaped, run_id=run_id)
