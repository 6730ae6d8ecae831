"""alpha_performance metrics shared by WorldService and the SDK (pure, no I/O)."""

from __future__ import annotations

from app.metrics.alpha import (
    METRIC_KEYS,
    METRIC_NAMES,
    compute_metrics,
    compute_metrics_raw,
    default_metrics,
    parse_alpha_envelope,
    sanitize_metrics,
)

__all__ = [
    "METRIC_KEYS",
    "METRIC_NAMES",
    "compute_metrics",
    "compute_metrics_raw",
    "default_metrics",
    "parse_alpha_envelope",
    "sanitize_metrics",
]
