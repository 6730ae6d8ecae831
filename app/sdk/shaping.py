"""How the Runner shapes a request for a Gateway's capabilities (v2/v3 with returns, or v1).

Pure: no I/O. ``Runner`` and ``AsyncRunner`` share it, and callers may use it directly.
Requests may be ``RebalanceRequest`` structs or plain dicts in the wire shape.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, overload

import msgspec

from app.contracts.policy import RebalancePolicy
from app.contracts.rebalancing import LATEST_SCHEMA_VERSION, RebalanceIntent, RebalanceRequest
from app.sdk.calls import RequestLike
from app.sdk.wire import GatewayHealth

__all__ = [
    "EffectiveCapabilities",
    "ReturnsByStrategy",
    "effective_capabilities",
    "shape_request",
]


class EffectiveCapabilities(msgspec.Struct, frozen=True, kw_only=True):
    """What the Runner will actually use, derived from the last ``/health``.

    Attributes:
        schema_version: the highest version the Gateway advertises (at most the newest this
            SDK knows) when it is alpha-capable, else 1: v2 and v3 answers carry metrics.
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
    alpha = health.rebalance_schema_version >= 2 and health.alpha_metrics_capable
    version = min(health.rebalance_schema_version, LATEST_SCHEMA_VERSION) if alpha else 1
    return EffectiveCapabilities(
        schema_version=version,
        alpha_metrics=alpha,
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
    policy: RebalancePolicy | None,
) -> dict[str, Any]:
    """``shape_request`` for a plain dict: the same keys set or removed, the rest kept
    as given (fields this SDK does not know travel unchanged)."""
    data = dict(request)
    if policy is not None:
        data["policy"] = msgspec.to_builtins(policy)
    if caps.schema_version < 2:
        for key in _V2_KEYS:
            data.pop(key, None)
        return data
    data["schema_version"] = caps.schema_version
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
    intent: Mapping[str, Any] | None = ..., policy: RebalancePolicy | None = ...,
) -> RebalanceRequest: ...


@overload
def shape_request(
    request: Mapping[str, Any], caps: EffectiveCapabilities, *,
    recorded: ReturnsByStrategy | None = ..., returns_by_strategy: ReturnsByStrategy | None = ...,
    returns_by_world: Mapping[str, Sequence[float]] | None = ...,
    intent: Mapping[str, Any] | None = ..., policy: RebalancePolicy | None = ...,
) -> dict[str, Any]: ...


def shape_request(
    request: RequestLike,
    caps: EffectiveCapabilities,
    *,
    recorded: ReturnsByStrategy | None = None,
    returns_by_strategy: ReturnsByStrategy | None = None,
    returns_by_world: Mapping[str, Sequence[float]] | None = None,
    intent: Mapping[str, Any] | None = None,
    policy: RebalancePolicy | None = None,
) -> RebalanceRequest | dict[str, Any]:
    """Shape a request for ``caps``: v2/v3 with returns and intent, or a clean v1 one.

    A policy (given here or already on ``request``) is always sent: a Gateway that cannot
    negotiate v3 refuses it with 422 ``E_POLICY_REQUIRES_V3``, so a policy is never
    silently dropped.

    Args:
        request: the base request, a ``RebalanceRequest`` or a plain dict in the wire shape
            (its own v2 fields are replaced; a dict comes back as a new dict).
        caps: the effective capabilities.
        recorded: returns recorded so far, ``{world: {strategy: returns}}``.
        returns_by_strategy: more strategy returns, taking precedence over ``recorded``.
        returns_by_world: ``{world: returns}``.
        intent: ``rebalance_intent.meta``.
        policy: a rebalancing policy (schema v3), replacing the request's own.

    Returns:
        With v2 or v3: that ``schema_version``, the returns and the intent. With v1: no
        ``schema_version``, no returns and no intent (what a v1 client sends).
    """
    by_strategy = (_returns_by_strategy(recorded, returns_by_strategy)
                   if caps.schema_version >= 2 else {})
    by_world = {w: [float(r) for r in s] for w, s in (returns_by_world or {}).items()}
    if not isinstance(request, RebalanceRequest):
        return _shape_mapping(request, caps, by_strategy, by_world, intent, policy)
    if policy is not None:
        request = msgspec.structs.replace(request, policy=policy)
    if caps.schema_version < 2:
        return msgspec.structs.replace(
            request, schema_version=None, rebalance_intent=None,
            realized_returns_by_world=None, realized_returns_by_strategy=None,
        )
    return msgspec.structs.replace(
        request,
        schema_version=caps.schema_version,
        rebalance_intent=RebalanceIntent(meta=dict(intent or {})),
        realized_returns_by_world=by_world or request.realized_returns_by_world,
        realized_returns_by_strategy=by_strategy or request.realized_returns_by_strategy,
    )
