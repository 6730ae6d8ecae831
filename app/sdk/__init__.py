"""The Worldgate SDK: Gateway clients, the Runner, reports, backtests and rollout checks."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from app.sdk.client import AsyncGatewayClient, GatewayClient
from app.sdk.errors import (
    ConflictError,
    ForbiddenScope,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    PreviewExpired,
    ProtocolError,
    RateLimited,
    RiskRejected,
    SchemaVersionRequired,
    SdkError,
    ServerError,
    StreamError,
    Unauthorized,
    Unreachable,
    WorldgateError,
)
from app.sdk.events import AsyncEventStream, EventStream
from app.sdk.follow import follow_events
from app.sdk.frames import metric_rows, plan_rows
from app.sdk.runner import EffectiveCapabilities, Runner
from app.sdk.runner_async import AsyncRunner
from app.sdk.wire import GatewayHealth

if TYPE_CHECKING:
    from app.sdk.report import Report, build_report

__all__ = [
    "AsyncEventStream",
    "AsyncGatewayClient",
    "AsyncRunner",
    "ConflictError",
    "EffectiveCapabilities",
    "EventStream",
    "ForbiddenScope",
    "GatewayClient",
    "GatewayHealth",
    "InvalidRequest",
    "NotFound",
    "PermissionDenied",
    "PreconditionFailed",
    "PreviewExpired",
    "ProtocolError",
    "RateLimited",
    "Report",
    "RiskRejected",
    "Runner",
    "SchemaVersionRequired",
    "SdkError",
    "ServerError",
    "StreamError",
    "Unauthorized",
    "Unreachable",
    "WorldgateError",
    "build_report",
    "follow_events",
    "metric_rows",
    "plan_rows",
]

REPORTS_HINT = "pip install 'worldgate[reports]'"
"""What installs the reports' dependency (NumPy) when only the base package is installed."""

_LAZY = {"Report": "app.sdk.report", "build_report": "app.sdk.report"}


def __getattr__(name: str) -> Any:
    """Import the report names on first use: they need NumPy, the rest of the SDK does not,
    so ``import app.sdk`` works on the base install (``pip install worldgate``)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'app.sdk' has no attribute {name!r}")
    try:
        imported = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != "numpy":
            raise
        raise ImportError(f"app.sdk.{name} needs NumPy: {REPORTS_HINT}") from exc
    return getattr(imported, name)
