"""The Worldgate SDK: Gateway clients, the Runner, reports, backtests and rollout checks."""

from __future__ import annotations

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
from app.sdk.report import Report, build_report
from app.sdk.runner import EffectiveCapabilities, Runner
from app.sdk.runner_async import AsyncRunner
from app.sdk.wire import GatewayHealth

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
]
