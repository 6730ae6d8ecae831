"""The schema-version rules of a WorldService: what it serves and what an answer gets."""

from __future__ import annotations

from app.contracts.worldservice_client import WorldServiceCapabilities
from app.errors import SchemaVersionRequiredError
from app.settings import WorldServiceServerSettings

__all__ = ["capabilities_of", "max_schema_version", "negotiate"]


def max_schema_version(server: WorldServiceServerSettings) -> int:
    """The highest schema version ``[worldservice.server]`` lets this WorldService answer."""
    return 2 if server.compat_rebalance_v2 else 1


def capabilities_of(server: WorldServiceServerSettings) -> WorldServiceCapabilities:
    """What ``GET /worldservice/capabilities`` answers for these settings."""
    return WorldServiceCapabilities(
        max_schema_version=max_schema_version(server),
        compat_rebalance_v2=server.compat_rebalance_v2,
        alpha_metrics_required=server.alpha_metrics_required,
    )


def negotiate(requested: int | None, server: WorldServiceServerSettings) -> int:
    """Pick the schema version of the answer: ``min(requested or 1, max_version)``.

    Args:
        requested: the request's ``schema_version`` (None means 1).
        server: the ``[worldservice.server]`` settings.

    Raises:
        SchemaVersionRequiredError: ``alpha_metrics_required`` is on and the request did not
            ask for schema 2 or later (400 ``E_SCHEMA_VERSION_REQUIRED``).
    """
    if server.alpha_metrics_required and not (requested is not None and requested >= 2):
        raise SchemaVersionRequiredError(
            "This WorldService requires schema_version >= 2 (alpha metrics are required).",
            extra={"required_schema_version": 2},
        )
    return max(1, min(requested or 1, max_schema_version(server)))
