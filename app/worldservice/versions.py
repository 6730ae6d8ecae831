"""The schema-version rules of a WorldService: what it serves and what an answer gets."""

from __future__ import annotations

from app.contracts.rebalancing import POLICY_SCHEMA_VERSION
from app.contracts.worldservice_client import WorldServiceCapabilities
from app.errors import PolicyRequiresV3Error, SchemaVersionRequiredError
from app.settings import WorldServiceServerSettings

__all__ = ["capabilities_of", "max_schema_version", "negotiate"]


def max_schema_version(server: WorldServiceServerSettings) -> int:
    """The highest schema version ``[worldservice.server]`` lets this WorldService answer.

    Each switch adds one version on top of the one below it (v3 needs v2, which start-up
    checks), so the answer is the highest version whose switch and every lower switch are on.
    """
    version = 1
    for switch in (server.compat_rebalance_v2, server.compat_rebalance_v3):
        if not switch:
            break
        version += 1
    return version


def capabilities_of(server: WorldServiceServerSettings) -> WorldServiceCapabilities:
    """What ``GET /worldservice/capabilities`` answers for these settings."""
    return WorldServiceCapabilities(
        max_schema_version=max_schema_version(server),
        compat_rebalance_v2=server.compat_rebalance_v2,
        alpha_metrics_required=server.alpha_metrics_required,
        compat_rebalance_v3=server.compat_rebalance_v3,
    )


def negotiate(
    requested: int | None, server: WorldServiceServerSettings, *, policy: bool = False
) -> int:
    """Pick the schema version of the answer: ``min(requested or 1, max_version)``.

    Args:
        requested: the request's ``schema_version`` (None means 1).
        server: the ``[worldservice.server]`` settings.
        policy: whether the request carries a rebalancing ``policy``.

    Raises:
        SchemaVersionRequiredError: ``alpha_metrics_required`` is on and the request did not
            ask for schema 2 or later (400 ``E_SCHEMA_VERSION_REQUIRED``).
        PolicyRequiresV3Error: the request carries a policy and the answer would be below
            schema 3 (422 ``E_POLICY_REQUIRES_V3``): a policy is never silently ignored.
    """
    if server.alpha_metrics_required and not (requested is not None and requested >= 2):
        raise SchemaVersionRequiredError(
            "This WorldService requires schema_version >= 2 (alpha metrics are required).",
            extra={"required_schema_version": 2},
        )
    served = max_schema_version(server)
    version = max(1, min(requested or 1, served))
    if policy and version < POLICY_SCHEMA_VERSION:
        raise PolicyRequiresV3Error(
            f"The request carries a rebalancing policy, which needs schema_version "
            f"{POLICY_SCHEMA_VERSION}, but it negotiated schema_version {version} (asked for "
            f"{requested or 1}; this WorldService serves up to {served}). Ask for "
            f"schema_version {POLICY_SCHEMA_VERSION} or leave the policy out.",
            errors=[{"path": "$.policy",
                     "message": f"needs schema_version >= {POLICY_SCHEMA_VERSION}"}],
            extra={"negotiated_schema_version": version,
                   "required_schema_version": POLICY_SCHEMA_VERSION},
        )
    return version
