"""Operations: Prometheus metrics, structured logs and the request context."""

from __future__ import annotations

from app.observability.logging import configure_logging
from app.observability.metrics import AppMetrics

__all__ = ["AppMetrics", "configure_logging"]
