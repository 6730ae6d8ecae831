"""The one lenient reader of plan answers from peers (Worldgate or QMTL WorldServices).

During a rollout a WorldService of another build may answer plans in QMTL's looser shape.
Every reader of a peer's plan (the Gateway's HTTP WorldService client, the SDK) goes through
:func:`read_plan`, which fills in QMTL's defaults and then decodes into the tagged
``PlanV1``/``PlanV2``/``PlanV3`` types:

- no ``schema_version`` → 1;
- a ``per_world`` entry without ``world_id`` → its key; without ``scale_world`` → 1.0,
  without ``scale_by_strategy`` → ``{}``, without ``deltas`` → ``[]`` (what QMTL's own
  Gateway assumes when it reads such an entry);
- no ``global_deltas`` → ``[]``;
- v2 without ``alpha_metrics`` → an empty envelope (metrics are sanitised: unknown keys
  dropped, non-numbers 0.0); without ``rebalance_intent`` → ``{"meta": {}}``;
- v3 without ``skipped`` → ``[]`` (its ``projection`` is required: it cannot be made up);
- a version never keeps the fields of a later one (v1 no v2 or v3 field, v2 no v3 field).

Only a body that is not a plan at all (not JSON, not an object, no ``per_world`` object,
entries or deltas of the wrong type, an unknown schema version) is refused.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import msgspec

from app.contracts.alpha_envelope import METRIC_KEYS, parse_alpha_envelope
from app.contracts.rebalancing import (
    PLAN_DECODER,
    AlphaMetricsEnvelope,
    PlanResponse,
    PlanV2,
)

__all__ = ["PlanReadError", "read_plan", "read_plan_bytes"]

_LATER_FIELDS = {
    1: ("alpha_metrics", "rebalance_intent", "skipped", "projection", "funding"),
    2: ("skipped", "projection", "funding"),
}
"""The fields a plan of each version never keeps (they belong to later versions)."""
_METRIC_KEY_SET = frozenset(METRIC_KEYS)


class PlanReadError(ValueError):
    """The answer is not a plan (the message says why)."""


def _version(raw: object) -> int:
    if raw is None:
        return 1
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise PlanReadError(f"schema_version is not an integer: {raw!r}")
    return raw


def _world(key: str, entry: object) -> dict[str, Any]:
    if not isinstance(entry, Mapping):
        raise PlanReadError(f"per_world[{key!r}] is not an object")
    out = dict(entry)
    if out.get("world_id") is None:
        out["world_id"] = key
    if out.get("scale_world") is None:
        out["scale_world"] = 1.0
    if out.get("scale_by_strategy") is None:
        out["scale_by_strategy"] = {}
    if out.get("deltas") is None:
        out["deltas"] = []
    return out


def _intent(raw: object) -> dict[str, Any]:
    meta = raw.get("meta") if isinstance(raw, Mapping) else None
    return {"meta": dict(meta) if isinstance(meta, Mapping) else {}}


def read_plan(obj: object) -> PlanResponse:
    """Read a decoded plan answer leniently, with QMTL's defaults (see the module doc).

    Args:
        obj: the decoded JSON body.

    Returns:
        ``PlanV1``, ``PlanV2`` or ``PlanV3``, complete: every field the type declares is set.

    Raises:
        PlanReadError: the body is not a plan.
    """
    if not isinstance(obj, Mapping):
        raise PlanReadError("the answer is not a JSON object")
    data = dict(obj)
    version = _version(data.get("schema_version"))
    data["schema_version"] = version
    per_world = data.get("per_world")
    if not isinstance(per_world, Mapping):
        raise PlanReadError("the answer has no per_world object")
    data["per_world"] = {str(key): _world(str(key), entry) for key, entry in per_world.items()}
    if data.get("global_deltas") is None:
        data["global_deltas"] = []
    if version >= 2:
        data["alpha_metrics"] = msgspec.to_builtins(parse_alpha_envelope(data.get("alpha_metrics")))
        data["rebalance_intent"] = _intent(data.get("rebalance_intent"))
    if version >= 3 and data.get("skipped") is None:
        data["skipped"] = []
    for name in _LATER_FIELDS.get(version, ()):
        data.pop(name, None)
    try:
        plan: PlanResponse = msgspec.convert(data, PlanResponse, strict=False)
    except msgspec.ValidationError as exc:
        raise PlanReadError(f"the answer does not match the plan contract: {exc}") from exc
    return plan


def _canonical_metrics(envelope: AlphaMetricsEnvelope) -> bool:
    """True when every metrics map has exactly the six keys, each finite (as sanitised)."""
    maps = list(envelope.per_world.values())
    for by_world in envelope.per_strategy.values():
        maps.extend(by_world.values())
    return all(
        m.keys() == _METRIC_KEY_SET and all(math.isfinite(v) for v in m.values()) for m in maps
    )


def read_plan_bytes(content: bytes) -> PlanResponse:
    """Read a plan answer from its JSON bytes (see :func:`read_plan`).

    A complete plan (Worldgate's own answers) is decoded straight into its type; only an
    answer that does not decode so (a QMTL-shaped one) is read field by field. Both roads
    give the same plan.

    Raises:
        PlanReadError: the bytes are not JSON or not a plan.
    """
    try:
        plan = PLAN_DECODER.decode(content)
    except msgspec.DecodeError:  # also a ValidationError: take the lenient road
        pass
    else:
        if isinstance(plan, PlanV2) and not _canonical_metrics(plan.alpha_metrics):
            plan = msgspec.structs.replace(
                plan, alpha_metrics=parse_alpha_envelope(plan.alpha_metrics)
            )
        return plan
    try:
        obj = msgspec.json.decode(content)
    except msgspec.DecodeError as exc:
        raise PlanReadError(f"the answer is not JSON: {exc}") from exc
    return read_plan(obj)
